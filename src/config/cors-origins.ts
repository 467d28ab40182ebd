/** CORS_ORIGINS unset (development only) or `*`: every origin may open a session. */
export function allowsAnyOrigin(corsOrigins: string[]): boolean {
  return corsOrigins.length === 0 || corsOrigins.includes('*');
}
