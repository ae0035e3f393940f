// The browser implementation (web/crypto) against the vectors written by the Rust implementation
// (crates/crypto/tests/vectors): identical bytes for identical keys, nonces and choices.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  ballotBytes, ballotTracker, crockfordBase32, electionContext, encryptBallot, fromHex,
  randomNonces, scalarToBytes, seededNonces, toHex, verifyBallot, verifyReveal,
} from '../../../web/crypto/securevote-crypto.js';

const vectors = (name) =>
  JSON.parse(readFileSync(fileURLToPath(new URL(`../../../crates/crypto/tests/vectors/${name}`, import.meta.url)), 'utf8'));
const ballots = vectors('ballots.json');
const primitives = vectors('primitives.json');

const contextOf = (c) => electionContext({ electionHash: c.election_hash, publicKey: c.public_key, contests: c.contests });

test('the seeded nonce stream matches', () => {
  const nonces = seededNonces(primitives.nonces.seed_utf8);
  for (const expected of primitives.nonces.scalars) assert.equal(toHex(scalarToBytes(nonces.next())), expected);
});

test('Crockford base32 matches', () => {
  assert.equal(crockfordBase32(fromHex(primitives.crockford.bytes)), primitives.crockford.text);
});

for (const c of ballots.cases) {
  test(`ballot vector ${c.name}: identical ballot, bytes, tracker and reveal`, () => {
    const ctx = contextOf(c);
    const { ballot, reveal, tracker } = encryptBallot(ctx, c.pseudonym, c.values, seededNonces(c.nonce_seed_utf8));
    assert.deepEqual(ballot, c.ballot);
    assert.equal(JSON.stringify(ballot), c.ballot_json, 'the same JSON text as Rust');
    assert.equal(toHex(ballotBytes(ballot)), c.ballot_bytes);
    assert.equal(tracker.hash, c.tracker_hash);
    assert.equal(tracker.display, c.tracker);
    assert.deepEqual(reveal, c.reveal);
  });

  test(`ballot vector ${c.name}: the Rust ballot verifies and its reveal opens`, () => {
    const ctx = contextOf(c);
    verifyBallot(ctx, c.ballot, c.pseudonym);
    assert.deepEqual(verifyReveal(ctx, c.ballot, c.reveal), c.values);
    assert.equal(ballotTracker(c.ballot).display, c.tracker);
  });
}

test('a ballot with real randomness verifies and reveals its values', () => {
  const c = ballots.cases[0];
  const ctx = contextOf(c);
  const { ballot, reveal } = encryptBallot(ctx, c.pseudonym, c.values, randomNonces());
  verifyBallot(ctx, ballot, c.pseudonym);
  assert.deepEqual(verifyReveal(ctx, ballot, reveal), c.values);
  assert.notEqual(ballot.contests[0].choices[0].alpha, c.ballot.contests[0].choices[0].alpha);
});

test('the encrypter refuses values outside the rules', () => {
  const c = ballots.cases.find((x) => x.name === 'plurality-5');
  const ctx = contextOf(c);
  assert.throws(() => encryptBallot(ctx, c.pseudonym, [[1, 1, 0, 0, 0]]), /choices selected/);
  assert.throws(() => encryptBallot(ctx, c.pseudonym, [[2, 0, 0, 0, 0]]), /not in/);
  assert.throws(() => encryptBallot(ctx, c.pseudonym, [[1, 0, 0, 0]]), /values for/);
});

test('tampered ballots and reveals are refused', () => {
  const c = ballots.cases[0];
  const ctx = contextOf(c);
  const copy = () => structuredClone(c.ballot);

  const otherVoter = copy();
  otherVoter.pseudonym = '07'.repeat(32);
  assert.throws(() => verifyBallot(ctx, otherVoter, '07'.repeat(32)), /proof does not verify/);
  assert.throws(() => verifyBallot(ctx, c.ballot, '07'.repeat(32)), /another voter/);

  const swapped = copy();
  const [a, b] = swapped.contests[0].choices;
  [a.beta, b.beta] = [b.beta, a.beta];
  assert.throws(() => verifyBallot(ctx, swapped), /contest\/0\/choice\/0: the proof does not verify/);

  const notAPoint = copy();
  notAPoint.contests[0].choices[0].alpha = 'ff'.repeat(32);
  assert.throws(() => verifyBallot(ctx, notAPoint));

  const upper = copy();
  upper.contests[0].choices[0].alpha = upper.contests[0].choices[0].alpha.toUpperCase();
  assert.throws(() => verifyBallot(ctx, upper), /lowercase/);

  const identity = copy();
  identity.contests[0].choices[0].alpha = '00'.repeat(32);
  assert.throws(() => verifyBallot(ctx, identity), /identity/);

  const lie = structuredClone(c.reveal);
  lie.contests[0].values = [1, 0, 0];
  assert.throws(() => verifyReveal(ctx, c.ballot, lie), /do not give this ciphertext/);
});
