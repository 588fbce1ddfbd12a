/**
 * The gateway token, shared by every call of one client, with single-flight (re-)login.
 *
 * Each token carries a generation. A call that got 401 hands back the token it used: if a newer generation exists
 * (someone already logged in again after that token was issued), it simply gets the newer one; if a login is in
 * flight, it joins it; only otherwise does it start one. So N calls that fail together with one expired token cause
 * exactly one login, whether their 401s arrive before, during or after that login.
 */
export interface Token {
  readonly value: string;
  readonly generation: number;
}

export class TokenCache {
  private token: Token | undefined;
  private pending: Promise<Token> | undefined;
  private generation = 0;

  /** `login` returns a fresh token value; it must not depend on any one caller's cancellation. */
  constructor(private readonly login: () => Promise<string>) {}

  /** The current token, logging in first (once, for all callers) when there is none. */
  get(): Promise<Token> {
    return this.token !== undefined ? Promise.resolve(this.token) : this.join();
  }

  /** The gateway refused `stale`: a token newer than it, from the single login shared with every other refused call. */
  renew(stale: Token): Promise<Token> {
    if (this.token !== undefined && this.token.generation !== stale.generation) return Promise.resolve(this.token);
    if (this.token?.generation === stale.generation) this.token = undefined;
    return this.join();
  }

  /** Forgets the token (logout, close) and returns it so it can be ended on the gateway. */
  take(): Token | undefined {
    const token = this.token;
    this.token = undefined;
    return token;
  }

  /** True while a token is cached (a later call will not log in). */
  get hasToken(): boolean {
    return this.token !== undefined;
  }

  private join(): Promise<Token> {
    this.pending ??= this.login()
      .then((value) => {
        this.generation += 1;
        this.token = { value, generation: this.generation };
        return this.token;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}
