import { Stryker } from '@stryker-mutator/core'

type StrykerOptions = ConstructorParameters<typeof Stryker>[0]

/**
 * npm run test:mutation [-- NAME…]: StrykerJS over the core modules, each against its focused test files
 * (run as plain Node scripts: tap's runner would add a second of start-up to every mutant). A module whose
 * score is under 95 % fails the run. Equivalent mutants are disabled where they live, with the reason
 * (`// Stryker disable next-line <mutator>: <reason>`). Reports: reports/mutation/<name>.json.
 */
const MODULES: Record<string, { mutate: string, tests: string[] }> = {
  normaliser: { mutate: 'src/vobiz/profile.ts', tests: ['test/vobiz/profile.test.ts'] },
  detector: { mutate: 'src/changes/detector.ts', tests: ['test/changes/detector.test.ts'] },
  feed: { mutate: 'src/changes/feed.ts', tests: ['test/changes/feed.test.ts'] },
  breaker: { mutate: 'src/vobiz/hold-off.ts', tests: ['test/vobiz/hold-off.test.ts'] },
  'client-address': { mutate: 'src/http/client-address.ts', tests: ['test/http/client-address.test.ts'] },
  'cache-headers': { mutate: 'src/http/cache-headers.ts', tests: ['test/http/cache-headers.test.ts'] },
  'rate-limit-counter': { mutate: 'src/rate-limit-counter.ts', tests: ['test/rate-limit-counter.test.ts'] },
  problems: { mutate: 'src/http/problems.ts', tests: ['test/http/problem-mapping.test.ts'] },
  'event-streams': { mutate: 'src/http/event-streams.ts', tests: ['test/http/event-streams.test.ts'] }
}

const BREAK = 95
const names = process.argv.slice(2)
for (const name of names) if (!(name in MODULES)) throw new Error(`${name}: not one of ${Object.keys(MODULES).join(', ')}`)

const scores: Array<[string, number, number, number]> = []
for (const [name, { mutate, tests }] of Object.entries(MODULES)) {
  if (names.length > 0 && !names.includes(name)) continue
  const options: StrykerOptions = {
    testRunner: 'command',
    commandRunner: { command: tests.map((file) => `node --import tsx ${file}`).join(' && ') },
    mutate: [mutate],
    // What the tests read besides src/ and test/: nothing else is copied into Stryker's sandbox.
    ignorePatterns: ['/*', '!/src', '!/test', '!/openapi', '!/package.json', '!/tsconfig.json'],
    coverageAnalysis: 'off',
    concurrency: 2,
    timeoutMS: 20_000,
    thresholds: { high: 98, low: BREAK, break: BREAK },
    reporters: ['clear-text', 'json'],
    jsonReporter: { fileName: `reports/mutation/${name}.json` },
    clearTextReporter: { allowColor: false, logTests: false },
    tempDirName: '.stryker-tmp',
    cleanTempDir: 'always',
    logLevel: 'warn' as NonNullable<StrykerOptions['logLevel']>
  }
  const results = await new Stryker(options).runMutationTest()
  const killed = results.filter((r) => r.status === 'Killed' || r.status === 'Timeout').length
  const counted = results.filter((r) => r.status !== 'Ignored' && r.status !== 'CompileError').length
  scores.push([name, counted, killed, counted === 0 ? 100 : (100 * killed) / counted])
}

console.log('\nmodule                 mutants  killed  score')
for (const [name, counted, killed, score] of scores) console.log(`${name.padEnd(22)} ${String(counted).padStart(7)} ${String(killed).padStart(7)}  ${score.toFixed(1)} %`)
const failing = scores.filter(([, , , score]) => score < BREAK)
if (failing.length > 0) {
  console.error(`under ${BREAK} %: ${failing.map(([name]) => name).join(', ')}`)
  process.exitCode = 1
}
