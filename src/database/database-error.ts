/** The driver's error code (`SQLITE_…`, SQLSTATE), from a QueryFailedError or a raw driver error. */
export function databaseErrorCode(error: unknown): unknown {
  const failed = error as { code?: unknown; driverError?: { code?: unknown } } | null | undefined;
  return failed?.driverError?.code ?? failed?.code;
}
