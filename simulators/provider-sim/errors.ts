// The provider's error answers. The seed shows one error body, `{"error": "string"}`,
// and no status codes; we keep that body and let the status say what kind of
// error it is: 400 invalid request, 401 bad key, 404 unknown id or path, 409 a
// request the object's state does not allow (over-refund, paying a paid intent),
// 413 body too large, 415 not JSON, 500 server error (or injected).
export interface ProviderErrorBody {
  error: string
}

export class ProviderSimError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
    this.name = 'ProviderSimError'
  }

  get body(): ProviderErrorBody {
    return { error: this.message }
  }
}

export function badRequest(message: string): ProviderSimError {
  return new ProviderSimError(400, message)
}

export function notFound(kind: string, id: string): ProviderSimError {
  return new ProviderSimError(404, `No such ${kind}: ${id.slice(0, 64)}`)
}

export function conflict(message: string): ProviderSimError {
  return new ProviderSimError(409, message)
}
