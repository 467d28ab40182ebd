/**
 * Whether CORS_ORIGINS lets every origin in: unset (development only: production refuses to start
 * without it) or `*`. Otherwise only the listed origins may open a session.
 */
export function allowsAnyOrigin(corsOrigins: string[]): boolean {
  return corsOrigins.length === 0 || corsOrigins.includes('*');
}
