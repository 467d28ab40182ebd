import { STARTUP_WAIT_MS, StartupGate } from './startup-gate.js';

describe('StartupGate', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => (clock = 1_000));

  it('opens once every slot has booted, not before, and stays open', () => {
    const gate = new StartupGate(3, now);
    gate.booted(0);
    gate.booted(0); // a slot booting again (a replacement) does not count twice
    gate.booted(2);
    expect(gate.isOpen).toBe(false);
    expect(gate.waitingFor).toBe('Starting: 2 of 3 workers booted');
    gate.booted(1);
    expect(gate.isOpen).toBe(true);
    clock += STARTUP_WAIT_MS * 10;
    expect(gate.isOpen).toBe(true);
  });

  it('opens after STARTUP_WAIT_MS whatever has booted', () => {
    const gate = new StartupGate(4, now);
    gate.booted(1);
    clock += STARTUP_WAIT_MS - 1;
    expect(gate.isOpen).toBe(false);
    clock += 1;
    expect(gate.isOpen).toBe(true);
  });
});
