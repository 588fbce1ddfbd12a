import { knownSkipOf, type KnownSkip } from './known-skips.js';

/**
 * What a run of Kubernetes' storage suite did, from ginkgo's JSON report (--json-report): passed, failed and skipped
 * specs, and for the skipped ones the reason each spec gave (e2eskipper's message: the capability it found missing).
 * Specs the focus left out are counted apart: they were never this driver's to run. Specs run.ts leaves out on purpose
 * (known-skips.ts) count as skips, with the reason given there.
 */
export interface SpecReport {
  ContainerHierarchyTexts?: string[] | null;
  LeafNodeText?: string;
  /** "It" for a spec; suite nodes (SynchronizedBeforeSuite, ReportAfterSuite, ...) have their own types. */
  LeafNodeType?: string;
  State?: string;
  Failure?: { Message?: string } | null;
  RunTime?: number;
}

export interface SuiteReport {
  SpecReports?: SpecReport[] | null;
}

export interface SuiteSummary {
  passed: number;
  failed: string[];
  /** Skip message (normalised: test-specific names taken out) → how many specs gave it. */
  skipped: Map<string, number>;
  /** Left out by --focus / --skip. */
  notSelected: number;
}

const FAILED_STATES = new Set(['failed', 'panicked', 'interrupted', 'aborted', 'timedout']);

/** One skip reason for many specs: the namespaces, driver and pattern names that vary per spec are taken out. */
export function normaliseSkip(message: string): string {
  return message
    .replace(/\s+/g, ' ')
    .replace(/e2e-[a-z0-9-]+/g, '<ns>')
    .trim();
}

/** `focus`: the run's --focus; a known skip outside it was never selected (ginkgo reports both the same way). */
export function summarise(reports: readonly SuiteReport[], knownSkips: readonly KnownSkip[] = [], focus = ''): SuiteSummary {
  const focused = new RegExp(focus);
  const summary: SuiteSummary = { passed: 0, failed: [], skipped: new Map(), notSelected: 0 };
  for (const suite of reports) {
    for (const spec of suite.SpecReports ?? []) {
      const name = [...(spec.ContainerHierarchyTexts ?? []), spec.LeafNodeText ?? ''].join(' ').trim();
      // Suite-level nodes (SynchronizedBeforeSuite and the like) have no leaf text: their failure is still a failure.
      if (spec.State === 'passed') {
        // Only specs count as passed: a suite node (the JUnit reporter, the setup) that ran fine is not a spec.
        if (name && (spec.LeafNodeType === undefined || spec.LeafNodeType === 'It')) summary.passed += 1;
      } else if (FAILED_STATES.has(spec.State ?? '')) {
        summary.failed.push(`${name || '(suite setup)'}: ${(spec.Failure?.Message ?? '').split('\n')[0]}`);
      } else if (spec.State === 'skipped') {
        const message = spec.Failure?.Message ?? '';
        const known = message === '' && focused.test(name) ? knownSkipOf(knownSkips, name) : undefined;
        // The spec's own message, or for one run.ts left out, the reason known-skips.ts gives; neither: not selected.
        const reason = known !== undefined ? `left out by run.ts: ${known.reason}` : message === '' ? undefined : normaliseSkip(message);
        if (reason === undefined) summary.notSelected += 1;
        else summary.skipped.set(reason, (summary.skipped.get(reason) ?? 0) + 1);
      } else if (spec.State === 'pending') {
        summary.notSelected += 1;
      }
    }
  }
  return summary;
}

export function formatSummary(driver: string, summary: SuiteSummary, wallMs: number): string {
  const skipped = [...summary.skipped.values()].reduce((a, b) => a + b, 0);
  const lines = [`${driver}: ${summary.passed} passed, ${summary.failed.length} failed, ${skipped} skipped in ${(wallMs / 60_000).toFixed(1)} min`];
  for (const failure of summary.failed) lines.push(`  FAILED ${failure}`);
  for (const [reason, count] of [...summary.skipped.entries()].sort((a, b) => b[1] - a[1])) lines.push(`  skipped ${count}: ${reason}`);
  return lines.join('\n');
}
