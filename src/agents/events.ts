// JSONL read from an agent's output as it comes: split into lines, a line too
// long to be an event dispatch reads skipped to its end, each line parsed.
/** The longest JSONL line read for events: the ones dispatch reads are short. */
export const EVENT_LINE_MAX = 4 * 1024 * 1024;

/** An agent's JSONL events, read as they come: a reader says what each event means (`take`). */
export abstract class JsonEvents {
  private lines = new JsonLines((ev) => this.take(ev));
  push(chunk: string): void {
    this.lines.push(chunk);
  }
  end(): void {
    this.lines.end();
  }
  protected abstract take(event: Record<string, unknown>): void;
}

export class JsonLines {
  private rest = '';
  /** In a line too long to be an event dispatch reads: skipped to its end. */
  private skipping = false;
  constructor(private readonly take: (event: Record<string, unknown>) => void) {}
  push(chunk: string): void {
    const lines = chunk.split('\n');
    // The end of the line begun before: read, unless it was too long (skipped).
    const first = lines.shift()!;
    if (!lines.length) {
      if (!this.skipping) this.rest += first;
    } else {
      if (!this.skipping) this.line(this.rest + first);
      this.skipping = false;
      this.rest = lines.pop()!;
      for (const l of lines) this.line(l);
    }
    // An agent printing without end of line must not grow a string without end (the runner would die).
    if (this.rest.length > EVENT_LINE_MAX) {
      this.rest = '';
      this.skipping = true;
    }
  }
  end(): void {
    if (this.rest && !this.skipping) this.line(this.rest);
    this.rest = '';
  }
  private line(l: string): void {
    if (!l.startsWith('{')) return;
    let ev: unknown;
    try {
      ev = JSON.parse(l);
    } catch {
      return;
    }
    if (ev && typeof ev === 'object' && !Array.isArray(ev)) this.take(ev as Record<string, unknown>);
  }
}
