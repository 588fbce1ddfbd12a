/** One case of a bad-input table and how the driver answered it, against what the table expects. */
export interface Outcome {
  name: string;
  verdict: 'as expected' | 'wrong code' | 'accepted';
  got: string;
}

/** The table's summary line (the counts issue 14 asks for), then every case that did not answer as expected. */
export function tallyLine(label: string, outcomes: readonly Outcome[]): string {
  const count = (v: Outcome['verdict']): number => outcomes.filter((o) => o.verdict === v).length;
  const lines = outcomes.filter((o) => o.verdict !== 'as expected').map((o) => `  ${o.verdict}: ${o.name} → ${o.got}`);
  return `\n${label}: tried ${outcomes.length}, as expected ${count('as expected')}, wrong code ${count('wrong code')}, accepted ${count('accepted')}\n${lines.join('\n')}\n`;
}
