// Times web/crypto's encryptBallot (encryption of every choice with its 0/1 proof and the
// sum proof) of the plurality-5 vector's ballot. vectors.js and params.js are written by
// bench/run next to this file; ../crypto is web/crypto.
import * as m from '../crypto/securevote-crypto.js';
import vectors from './vectors.js';
import params from './params.js';

const out = document.getElementById('result');
try {
  const c = vectors.cases.find((x) => x.name === 'plurality-5');
  const ctx = m.electionContext({ electionHash: c.election_hash, publicKey: c.public_key, contests: c.contests });
  // The shared vector first: the page encrypts exactly what Rust does.
  const { ballot } = m.encryptBallot(ctx, c.pseudonym, c.values, m.seededNonces(c.nonce_seed_utf8));
  if (JSON.stringify(ballot) !== c.ballot_json) throw new Error('the ballot differs from the Rust vector');
  for (let i = 0; i < params.warmup; i++) m.encryptBallot(ctx, c.pseudonym, c.values, m.randomNonces());
  const times = [];
  let last = null;
  for (let i = 0; i < params.runs; i++) {
    const t0 = performance.now();
    last = m.encryptBallot(ctx, c.pseudonym, c.values, m.randomNonces()).ballot;
    times.push(performance.now() - t0);
  }
  m.verifyBallot(ctx, last, c.pseudonym);
  times.sort((a, b) => a - b);
  const at = (p) => times[Math.min(times.length - 1, Math.max(0, Math.ceil((p / 100) * times.length) - 1))];
  out.textContent = JSON.stringify({
    runs: times.length, median_ms: at(50), p99_ms: at(99), min_ms: times[0], user_agent: navigator.userAgent,
  });
} catch (e) {
  out.textContent = JSON.stringify({ error: String(e && e.stack || e) });
}
