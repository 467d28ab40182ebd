/**
 * The driver's error code of a failed query: `SQLITE_CONSTRAINT_UNIQUE`-style names from better-sqlite3,
 * SQLSTATEs like `23505` from pg. TypeORM's QueryFailedError keeps the driver's error as `driverError`
 * (and copies its fields); a raw driver error has `code` itself.
 */
export function databaseErrorCode(error: unknown): unknown {
  const failed = error as { code?: unknown; driverError?: { code?: unknown } } | null | undefined;
  return failed?.driverError?.code ?? failed?.code;
}
