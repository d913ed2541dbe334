import t from 'tap'
import type { Profile } from '../../src/schemas/profile.ts'
import { withholdSecrets } from '../../src/vobiz/withhold-secrets.ts'

const secrets = { contains: (text: string) => text.includes('TOKEN-SECRET') || text.includes('PA_AUTH_ID') }
const own = new Set(['PA_AUTH_ID'])
const base: Profile = { id: 'partner-1', name: 'Acme', email: 'a@acme.example', balance: 1, currency: 'INR', status: 'active' }

t.test('a string field holding a secret is withheld; the rest is published as it was', async (t) => {
  t.same(withholdSecrets(base, secrets, own), { profile: base, withheld: [] })
  const { profile, withheld } = withholdSecrets({ ...base, name: 'Acme TOKEN-SECRET', email: 'PA_AUTH_ID@acme.example' }, secrets, own)
  t.same(withheld, ['name', 'email'])
  t.same(profile, { id: 'partner-1', balance: 1, currency: 'INR', status: 'active' }, 'the auth ID is withheld from free text like any secret')
  t.same(Object.keys(profile ?? {}), ['id', 'balance', 'currency', 'status'], 'in the published order')
})

t.test('the id: published when it is exactly the auth ID; any other id holding a secret refuses the answer', async (t) => {
  t.same(withholdSecrets({ ...base, id: 'PA_AUTH_ID' }, secrets, own), { profile: { ...base, id: 'PA_AUTH_ID' }, withheld: [] }, 'the account\'s own identifier')
  t.same(withholdSecrets({ ...base, id: 'PA_AUTH_ID-2' }, secrets, own), { profile: undefined, withheld: ['id'] }, 'the auth ID inside a longer id')
  t.same(withholdSecrets({ ...base, id: 'TOKEN-SECRET', name: 'TOKEN-SECRET' }, secrets, own), { profile: undefined, withheld: ['id', 'name'] }, 'the token')
  t.same(withholdSecrets({ ...base, id: 'PA_AUTH_ID' }, secrets, new Set()), { profile: undefined, withheld: ['id'] }, 'with no auth ID of its own, nothing is exempt')
})
