// CodeMirror 6 editors of the page: YAML with lint markers at the lines the loader names.

import { basicSetup, EditorView } from 'codemirror';
import { EditorState, type Extension } from '@codemirror/state';
import { yaml } from '@codemirror/lang-yaml';
import { lintGutter, setDiagnostics, type Diagnostic as LintDiagnostic } from '@codemirror/lint';
import type { LineRange } from './lint.ts';

export function yamlEditor(parent: HTMLElement, doc: string, label: string, onChange: (text: string) => void): EditorView {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [
        basicSetup,
        yaml(),
        lintGutter(),
        EditorView.contentAttributes.of({ 'aria-label': label }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(update.state.doc.toString());
        }),
      ],
    }),
  });
}

export function readOnlyEditor(parent: HTMLElement, doc: string, language: Extension, label: string): EditorView {
  return new EditorView({
    parent,
    state: EditorState.create({
      doc,
      extensions: [basicSetup, language, EditorState.readOnly.of(true), EditorView.editable.of(false), EditorView.contentAttributes.of({ 'aria-label': label })],
    }),
  });
}

/** Replaces the whole text (one undoable change). */
export function setText(view: EditorView, text: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

export function showProblems(view: EditorView, ranges: readonly LineRange[]): void {
  const length = view.state.doc.length;
  const diagnostics: LintDiagnostic[] = ranges.map((r) => ({
    from: Math.min(r.from, length),
    to: Math.min(r.to, length),
    severity: r.severity,
    message: `line ${r.line}: ${r.message}`,
  }));
  view.dispatch(setDiagnostics(view.state, diagnostics));
}

/** Moves the cursor to the start of `line` and scrolls it into view. */
export function goToLine(view: EditorView, line: number): void {
  const target = view.state.doc.line(Math.min(Math.max(line, 1), view.state.doc.lines));
  view.dispatch({ selection: { anchor: target.from }, effects: EditorView.scrollIntoView(target.from, { y: 'center' }) });
  view.focus();
}
