// Usage errors (exit status 2) and the shared option parsing of every subcommand.
import { parseArgs, type ParseArgsConfig } from 'node:util';

// This module can be loaded twice in one process (through require and through import, as a test
// runner does when a test calls main() in-process): brands under Symbol.for make instanceof work
// across the copies.
const USAGE_ERROR = Symbol.for('meshc.UsageError');
const INPUT_ERROR = Symbol.for('meshc.InputError');

function branded(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** Bad usage (options, arguments): exit status 2. */
export class UsageError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, USAGE_ERROR);
  }

  constructor(message: string) {
    super(message);
    Object.defineProperty(this, USAGE_ERROR, { value: true });
  }
}

/** Bad input data (manifests, policy): exit status 1. */
export class InputError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, INPUT_ERROR);
  }

  constructor(message: string) {
    super(message);
    Object.defineProperty(this, INPUT_ERROR, { value: true });
  }
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with unknown options rejected by name, as a UsageError. */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

export function parseCommand<const T extends Options>(command: string, args: string[], options: T, allowPositionals = true) {
  try {
    const all = { ...options, ...HELP_OPTION } as T & typeof HELP_OPTION;
    return parseArgs({ args, options: all, allowPositionals, strict: true });
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
