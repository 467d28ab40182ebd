// Nest 12 ships as pure ESM, so Jest runs in its native ESM mode (node --experimental-vm-modules,
// see package.json) and ts-jest emits ESM. Imports keep their `.js` suffix as Node requires;
// the mapper points them back at the .ts sources.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  // e2e suites start real processes; two at a time fits this 2-core machine.
  maxWorkers: 2,
  // Generous: a loaded machine can take many seconds to boot a service; passing runs are fast.
  testTimeout: 120000,
};
