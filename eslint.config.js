import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/', 'dist-tsc/', 'data/', 'coverage/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // The demo page in web/ runs in the browser; `io` is the global of /socket.io/socket.io.min.js.
    files: ['web/**'],
    languageOptions: {
      globals: Object.fromEntries(
        (
          'window document location history navigator sessionStorage localStorage crypto fetch atob ' +
          'TextDecoder URLSearchParams queueMicrotask setTimeout clearTimeout setInterval clearInterval ' +
          'HTMLElement HTMLInputElement HTMLTextAreaElement HTMLFormElement Element Node Event Response io'
        )
          .split(' ')
          .map((name) => [name, 'readonly']),
      ),
    },
  },
  prettier,
);
