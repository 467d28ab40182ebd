import { IsString, Length } from 'class-validator';

/** `auth:refresh`: the socket's next token, checked like a handshake's. */
export class RefreshTokenDto {
  @IsString({ message: 'token must be a string' })
  @Length(1, 4096, { message: 'token must be 1 to 4096 characters' })
  token!: string;
}
