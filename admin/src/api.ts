/** The Management API (`{issuer}api/v2/`), called with the console's access token. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Json = Record<string, any>;

export class Api {
  constructor(
    private readonly base: string,
    private readonly token: () => Promise<string>,
  ) {}

  async call<T = Json>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${await this.token()}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(this.base + path, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) throw new ApiError(res.status, (data && (data.message as string)) || `${res.status} ${res.statusText}`);
    return data as T;
  }

  get<T = Json>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
}

/** `/users/{id}`-style path segments. */
export const enc = encodeURIComponent;
