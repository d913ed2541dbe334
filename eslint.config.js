import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', '.tap/**', 'openapi/**', '.stryker-tmp/**', 'reports/**'] }),
  {
    rules: {
      // A TypeBox schema and its Static type share a name by design; tsc reports real redeclarations.
      '@typescript-eslint/no-redeclare': 'off'
    }
  }
]
