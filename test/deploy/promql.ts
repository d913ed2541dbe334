const PROMQL_WORDS = new Set(['histogram_quantile', 'group_left', 'group_right'])

/** The metric names a PromQL expression reads (label names, matchers, functions and strings left out). */
export function metricNames (expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
  return [...new Set([...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((word) => word.includes('_') && !PROMQL_WORDS.has(word)))]
}
