// Per-agent pacing: a rate limit pauses the agent and widens its cooldowns; clean runs narrow them back.
export class AgentPacing {
  private paused = new Map<string, number>();
  private factor = new Map<string, number>();
  constructor(private widen: number) {}
  pausedUntil(agent: string): number {
    return this.paused.get(agent) ?? 0;
  }
  factorOf(agent: string): number {
    return this.factor.get(agent) ?? 1;
  }
  rateLimited(agent: string, until: number): void {
    this.paused.set(agent, Math.max(this.pausedUntil(agent), until));
    this.factor.set(agent, Math.min(16, this.factorOf(agent) * this.widen));
  }
  clean(agent: string): void {
    this.factor.set(agent, Math.max(1, this.factorOf(agent) / this.widen));
  }
}
