// Usage errors (exit status 2) and the shared option parsing of every subcommand.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

/** Bad input data (manifests, policy): exit status 1. */
export class InputError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with unknown options rejected by name, as a UsageError. */
export function parseCommand(command: string, args: string[], options: Options, allowPositionals = true) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(`meshc ${command}: ${(error as Error).message.replace(/\. To specify a positional.*$/s, '')}`);
  }
}

export function integerOption(command: string, name: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new UsageError(`meshc ${command}: --${name} must be an integer >= ${min}, got "${text}"`);
  }
  return value;
}
