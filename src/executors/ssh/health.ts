// Which hosts answer. A host that fails `lostAfter` checks in a row is down:
// its runs are given up (lost, and retried elsewhere) and nothing new goes
// there until it answers again.
export class HostHealth {
  private failures = new Map<string, number>();
  private down = new Set<string>();
  /** When each host was last checked (ms), to check each one every checkSeconds. */
  readonly checkedAt = new Map<string, number>();
  constructor(private lostAfter: number) {}

  /** Records a failed check; true the moment the host goes down. */
  fail(host: string): boolean {
    const n = (this.failures.get(host) ?? 0) + 1;
    this.failures.set(host, n);
    if (n >= this.lostAfter && !this.down.has(host)) {
      this.down.add(host);
      return true;
    }
    return false;
  }

  /** Records an answer; true when the host was down until now. */
  ok(host: string): boolean {
    this.failures.delete(host);
    return this.down.delete(host);
  }

  isDown(host: string): boolean {
    return this.down.has(host);
  }

  failuresOf(host: string): number {
    return this.failures.get(host) ?? 0;
  }
}
