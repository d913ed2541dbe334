import createClient from 'openapi-fetch'
import type { paths } from '../../openapi/schema.d.ts'

/**
 * What a consumer team writes: a typed client from the committed spec (openapi-typescript types +
 * openapi-fetch). `npm test` type-checks this file against openapi/schema.d.ts and runs it against the service.
 */
export type Profile = paths['/profile']['get']['responses'][200]['content']['application/json']
export type Balance = paths['/profile/balance']['get']['responses'][200]['content']['application/json']
export type Problem = paths['/profile']['get']['responses'][502]['content']['application/problem+json']

export function vobizBffClient (baseUrl: string, apiKey: string) {
  const client = createClient<paths>({ baseUrl, headers: { 'X-API-Key': apiKey } })
  return {
    async profile (): Promise<Profile> {
      const { data, error, response } = await client.GET('/profile')
      if (data === undefined) throw new Error(`GET /profile: ${response.status} ${error?.code}`)
      return data
    },
    async balance (options: { fresh?: boolean } = {}): Promise<Balance> {
      const { data, error, response } = await client.GET('/profile/balance', {
        headers: options.fresh === true ? { 'Cache-Control': 'no-cache' } : {}
      })
      if (data === undefined) throw new Error(`GET /profile/balance: ${response.status} ${error?.code}`)
      return data
    },
    /** The problem body of a failing call, typed by status. */
    async balanceProblem (): Promise<{ status: number, code: string | undefined }> {
      const { error, response } = await client.GET('/profile/balance')
      return { status: response.status, code: error?.code }
    }
  }
}

// Compile-time checks that the generated types carry the contract (tsc fails if they do not).
export const typeChecks = (profile: Profile, balance: Balance, problem: Problem): unknown[] => {
  const id: string = profile.id
  const amount: number = balance.balance
  const status: 'active' | 'suspended' | 'closed' | undefined = profile.status
  const code: string = problem.code
  // @ts-expect-error the profile never carries Vobiz's auth_id
  const leaked = profile.auth_id
  // @ts-expect-error balances are numbers, not strings
  const text: string = balance.balance
  return [id, amount, status, code, leaked, text]
}
