// The capacity scenario's report (capacity.mjs): each server's steps, then the four capacities side by
// side with ours / the storing reference, and the goal.
import { countLines, countOf, fmt, printAlignedTable } from './lib.mjs';

/** Ours must reach this share of the storing reference's capacity (messages per second). */
const GOAL_RATIO = 0.8;
const OURS = { 'ours-sqlite': 'SQLite', 'ours-postgres': 'PostgreSQL' };

const ms = (value) => (value > 2_000 ? '>2,000' : fmt(value));

/** Capacities, the ratios of ours to the storing reference, and the goal lines, for the JSON and the print. */
export function summarizeCapacity(results) {
  const capacities = Object.fromEntries(
    Object.entries(results).map(([name, result]) => [name, result.failed ? undefined : result.capacity]),
  );
  // Not judged without a storing reference that passed a step: any capacity is >= its 0.
  const reference =
    capacities['reference-storing']?.messagesPerSecond > 0 ? capacities['reference-storing'] : undefined;
  const goals = Object.entries(OURS)
    .filter(([name]) => capacities[name])
    .map(([name, database]) => {
      const ratio = reference ? capacities[name].messagesPerSecond / reference.messagesPerSecond : Number.NaN;
      return {
        server: name,
        database,
        ratio,
        // The SQLite line is the goal; the PostgreSQL one is reported for information.
        info: name !== 'ours-sqlite',
        met: reference
          ? capacities[name].messagesPerSecond >= GOAL_RATIO * reference.messagesPerSecond
          : undefined,
      };
    });
  return { capacities, goals };
}

function printSteps(name, result) {
  console.log(`\n${name} (${result.title}):`);
  if (result.failed) {
    console.log(`  failed: ${result.failed}`);
    return;
  }
  const transports = Object.entries(result.transports)
    .map(([transport, n]) => `${transport} ${n}`)
    .join(', ');
  console.log(
    `  ${result.connected}/${result.clients} connected in ${fmt(result.connectSeconds)} s, ${result.joined} joined, ` +
      `on ${transports || 'none'} when the load started; server RSS before connect ${fmt(result.rssEmptyKiB / 1024)} MiB`,
  );
  for (const line of countLines(result.connectFailures)) console.log(`  connect failure: ${line.trim()}`);
  printAlignedTable(
    [
      'step',
      'msg/s per client',
      'offered msg/s',
      'offered deliv/s',
      'delivered/s',
      'ack p50/p99 (ms)',
      'delivery p50/p99 (ms)',
      'lost deliv / acks',
      'server CPU',
      'load-gen CPU',
      'server RSS (MiB)',
      'result',
    ],
    result.steps.map((step) => [
      String(step.index),
      String(step.rate),
      fmt(step.offered.messagesPerSecond, 0),
      fmt(step.offered.deliveriesPerSecond, 0),
      fmt(step.deliveredPerSecond, 0),
      `${ms(step.ackMs.p50)} / ${ms(step.ackMs.p99)}`,
      `${ms(step.deliveryMs.p50)} / ${ms(step.deliveryMs.p99)}`,
      `${step.lostDeliveries} / ${countOf(step.ackFailures) + step.unanswered}`,
      fmt(step.cores.server, 2),
      fmt(step.cores.loadGenerators, 2),
      fmt(step.rssKiB / 1024),
      step.passed ? 'passed' : `FAILED: ${step.reasons.join('; ')}`,
    ]),
  );
}

/** "1.00 msg/s per client", with "at least" when no step failed (the capacity lies beyond --max-rate). */
function capacityCells(capacity, maxRate) {
  const atLeast = capacity.firstFailure === undefined ? '>= ' : '';
  return [
    `${atLeast}${fmt(capacity.ratePerClient, 2)}`,
    `${atLeast}${fmt(capacity.messagesPerSecond, 0)}`,
    `${atLeast}${fmt(capacity.deliveriesPerSecond, 0)}`,
    capacity.firstFailure
      ? `${capacity.firstFailure.rate}: ${capacity.firstFailure.reasons.join('; ')}`
      : `none up to ${maxRate}`,
  ];
}

export function printCapacity(results, summary, options, command) {
  console.log(`\nCapacity (the command: ${command})`);
  for (const [name, result] of Object.entries(results)) printSteps(name, result);
  console.log('\nCapacity: the highest offered load of a step that passed\n');
  const ratioOf = (name) => summary.goals.find((goal) => goal.server === name)?.ratio;
  printAlignedTable(
    [
      'server',
      'msg/s per client',
      'messages/s',
      'deliveries/s',
      'first failing step',
      'ours / storing reference',
    ],
    Object.entries(results).map(([name, result]) => [
      `${name} (${result.title})`,
      ...(result.failed
        ? ['failed', '', '', result.failed.slice(0, 60)]
        : capacityCells(result.capacity, options.maxRate)),
      name in OURS && Number.isFinite(ratioOf(name)) ? `${fmt(ratioOf(name), 2)}x` : '',
    ]),
  );
  console.log('\nGoal:');
  if (summary.goals.length === 0 || summary.goals[0].met === undefined) {
    console.log('  (not judged: it needs ours and a storing reference that passed a step, in the same run)');
    return;
  }
  for (const goal of summary.goals)
    console.log(
      `  [${goal.met ? 'met' : 'MISSED'}] ours (${goal.database}) >= ${GOAL_RATIO}x the storing reference's capacity: ` +
        `${fmt(goal.ratio, 2)}x` +
        (goal.info ? ' (info)' : ''),
    );
  const unbounded = Object.entries(results).filter(([, r]) => !r.failed && !r.capacity.firstFailure);
  if (unbounded.length > 0)
    console.log(
      `  note: ${unbounded.map(([name]) => name).join(', ')} passed every step up to --max-rate ${options.maxRate}: ` +
        'a capacity is at least that there, and a ratio involving one is a bound, not a measure',
    );
}
