// Lint rules: the recommended sets of ESLint and typescript-eslint, plus the
// purity rules of src/core and src/conference (DESIGN.md §8: no I/O, no timers,
// no wall clock).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'bench/results/', 'web/dist/', 'coverage/', '.prof/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    // The conference page runs in browsers (web/tsconfig.json type-checks it with the DOM).
    files: ['web/src/**/*.ts'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['src/core/**/*.ts', 'src/conference/**/*.ts'],
    languageOptions: { globals: {} },
    rules: {
      'no-restricted-globals': ['error',
        { name: 'Date', message: 'Pure code takes time as a parameter (a Clock, or nowMs).' },
        { name: 'setTimeout', message: 'Pure code has no timers.' },
        { name: 'setInterval', message: 'Pure code has no timers.' },
        { name: 'setImmediate', message: 'Pure code has no timers.' },
        { name: 'performance', message: 'Pure code takes time as a parameter (a Clock, or nowMs).' },
        { name: 'process', message: 'Pure code does no I/O.' },
        { name: 'console', message: 'Pure code does no I/O.' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'Pure code takes randomness from a Random parameter.' },
      ],
    },
  },
);
