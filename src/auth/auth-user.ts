/** Who the handshake token says the socket is. */
export interface AuthUser {
  id: string;
  name: string;
}
