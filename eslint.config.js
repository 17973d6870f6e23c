// Lint rules: the recommended sets of ESLint and typescript-eslint, plus the
// purity rules of src/core (DESIGN.md §8: no I/O, no timers, no wall clock).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/', 'bench/results/', 'web/dist/', 'coverage/', '.prof/'] },
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
    files: ['src/core/**/*.ts'],
    languageOptions: { globals: {} },
    rules: {
      'no-restricted-globals': ['error',
        { name: 'Date', message: 'src/core takes time from a Clock parameter.' },
        { name: 'setTimeout', message: 'src/core has no timers.' },
        { name: 'setInterval', message: 'src/core has no timers.' },
        { name: 'setImmediate', message: 'src/core has no timers.' },
        { name: 'performance', message: 'src/core takes time from a Clock parameter.' },
        { name: 'process', message: 'src/core does no I/O.' },
        { name: 'console', message: 'src/core does no I/O.' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'src/core takes randomness from a Random parameter.' },
      ],
    },
  },
);
