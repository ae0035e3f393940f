// Ballot encryption of securevote in the browser: exponential ElGamal over ristretto255 with
// disjunctive Chaum–Pedersen range proofs, the tracker and the Benaloh reveal. It follows
// docs/election-record.md (section numbers §n below) and produces exactly the bytes of the Rust
// implementation (crates/crypto); the shared vectors in crates/crypto/tests/vectors check that.
// Plain ES module, no build step; the noble libraries are vendored beside it.

import { ristretto255 } from './vendor/noble-curves-2.4.0/ed25519.js';
import { sha256, sha512 } from './vendor/noble-hashes-2.4.0/sha2.js';

const Point = ristretto255.Point;
/** The group order l (§1.1). */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const G = Point.BASE;
const ZERO = Point.ZERO;

// ---- encodings (§1.1) ----------------------------------------------------------------------

const HEX = '0123456789abcdef';

export function toHex(bytes) {
  let out = '';
  for (const b of bytes) out += HEX[b >> 4] + HEX[b & 15];
  return out;
}

/** Lowercase hexadecimal only: one value, one spelling. */
export function fromHex(text) {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-f]*$/.test(text)) {
    throw new Error('not lowercase hexadecimal');
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function hex32(text, what) {
  const bytes = fromHex(text);
  if (bytes.length !== 32) throw new Error(`${what}: expected 32 bytes`);
  return bytes;
}

const utf8 = (s) => new TextEncoder().encode(s);

function le64(n) {
  const out = new Uint8Array(8);
  let v = BigInt(n);
  for (let i = 0; i < 8; i++) {
    out[i] = Number(v & 255n);
    v >>= 8n;
  }
  return out;
}

function concat(parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function bytesToNumberLE(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

export function scalarToBytes(s) {
  const out = new Uint8Array(32);
  let v = s;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 255n);
    v >>= 8n;
  }
  return out;
}

/** A canonical scalar (little-endian, below l); anything else is refused. */
export function scalarFromBytes(bytes) {
  const n = bytesToNumberLE(bytes);
  if (bytes.length !== 32 || n >= L) throw new Error('not a canonical scalar');
  return n;
}

/** A canonical ristretto255 encoding; anything else is refused. */
export function pointFromBytes(bytes) {
  return Point.fromBytes(bytes);
}

const pointHex = (p) => toHex(p.toBytes());
const scalarHex = (s) => toHex(scalarToBytes(s));
const mod = (a) => ((a % L) + L) % L;

// ---- hashing (§1.2) ------------------------------------------------------------------------

function frame(tag, items) {
  const parts = [];
  for (const item of [utf8(tag), ...items]) parts.push(le64(item.length), item);
  return concat(parts);
}

/** Hq: SHA-512 of the framed input, read little-endian, reduced mod l. */
export function challengeHash(tag, items) {
  return mod(bytesToNumberLE(sha512(frame(tag, items))));
}

/** Hb: SHA-256 of the framed input. */
export function byteHash(tag, items) {
  return sha256(frame(tag, items));
}

// ---- scalar multiplication ----------------------------------------------------------------

// noble's constant-time multiply refuses 0; a zero scalar (probability 2^-252) gives the identity.
const mul = (point, s) => (s === 0n ? ZERO : point.multiply(s));
// Public small values (a vote count offset) and verification: variable time is fine.
const mulPublic = (point, s) => point.multiplyUnsafe(s);

// ---- nonces (§7) ---------------------------------------------------------------------------

/** Uniform scalars from the platform's cryptographic generator (64 bytes reduced mod l). */
export function randomNonces() {
  return {
    next() {
      const wide = new Uint8Array(64);
      globalThis.crypto.getRandomValues(wide);
      return mod(bytesToNumberLE(wide));
    },
  };
}

/** The deterministic stream of §7: for test vectors only, never for a real ballot. */
export function seededNonces(seed) {
  const seedBytes = typeof seed === 'string' ? utf8(seed) : seed;
  let counter = 0n;
  return {
    next() {
      const s = challengeHash('securevote/v1/test-nonces', [seedBytes, le64(counter)]);
      counter += 1n;
      return s;
    },
  };
}

// ---- the election context -----------------------------------------------------------------

/**
 * The context a ballot is made in: `electionHash` and `publicKey` as hex, `contests` as in the
 * setup event's election document (§2).
 */
export function electionContext({ electionHash, publicKey, contests }) {
  const pk = pointFromBytes(hex32(publicKey, 'public key'));
  if (pk.equals(ZERO)) throw new Error('the public key is the identity');
  return { electionHash: hex32(electionHash, 'election hash'), publicKey: pk, publicKeyBytes: pk.toBytes(), contests };
}

function choiceRange(contest) {
  if (contest.kind === 'choices') return [0n, 1n];
  if (contest.kind === 'score') return [0n, BigInt(contest.max_score)];
  throw new Error(`unknown contest kind ${contest.kind}`);
}

function sumRange(contest) {
  return contest.kind === 'choices' ? [BigInt(contest.min), BigInt(contest.max)] : null;
}

function checkValues(contest, values, index) {
  if (values.length !== contest.choices.length) {
    throw new Error(`contest ${index}: ${values.length} values for ${contest.choices.length} choices`);
  }
  const [lo, hi] = choiceRange(contest);
  for (const v of values) {
    if (!Number.isSafeInteger(v) || BigInt(v) < lo || BigInt(v) > hi) {
      throw new Error(`contest ${index}: value ${v} is not in ${lo}..${hi}`);
    }
  }
  const range = sumRange(contest);
  if (range) {
    const sum = BigInt(values.reduce((a, b) => a + b, 0));
    if (sum < range[0] || sum > range[1]) {
      throw new Error(`contest ${index}: ${sum} choices selected, the contest allows ${range[0]}..${range[1]}`);
    }
  }
}

// ---- range proofs (§4.3) -------------------------------------------------------------------

function rangeChallenge(ctx, pseudonym, label, lo, hi, alpha, beta, commitments) {
  const items = [ctx.electionHash, pseudonym, utf8(label), le64(lo), le64(hi), ctx.publicKeyBytes, alpha.toBytes(), beta.toBytes()];
  for (const [a, b] of commitments) items.push(a.toBytes(), b.toBytes());
  return challengeHash('securevote/v1/range', items);
}

function proveRange(ctx, pseudonym, label, lo, hi, alpha, beta, m, nonce, nonces) {
  const pairs = [];
  const commitments = [];
  let w = 0n;
  for (let v = lo; v <= hi; v++) {
    if (v === m) {
      w = nonces.next();
      pairs.push(null);
      commitments.push([mul(G, w), mul(ctx.publicKey, w)]);
    } else {
      const c = nonces.next();
      const r = nonces.next();
      pairs.push([c, r]);
      // Constant time: which positions are simulated is the vote itself.
      const shifted = beta.subtract(mulPublic(G, v));
      commitments.push([mul(G, r).subtract(mul(alpha, c)), mul(ctx.publicKey, r).subtract(mul(shifted, c))]);
    }
  }
  const challenge = rangeChallenge(ctx, pseudonym, label, lo, hi, alpha, beta, commitments);
  const simulated = pairs.reduce((sum, p) => (p ? sum + p[0] : sum), 0n);
  const cm = mod(challenge - simulated);
  pairs[Number(m - lo)] = [cm, mod(w + cm * nonce)];
  return pairs.map(([c, r]) => ({ c: scalarHex(c), r: scalarHex(r) }));
}

function verifyRange(ctx, pseudonym, label, lo, hi, alpha, beta, proof) {
  if (BigInt(proof.length) !== hi - lo + 1n) return false;
  const commitments = [];
  let sum = 0n;
  for (let i = 0; i < proof.length; i++) {
    const v = lo + BigInt(i);
    const c = scalarFromBytes(hex32(proof[i].c, `${label} proof`));
    const r = scalarFromBytes(hex32(proof[i].r, `${label} proof`));
    sum += c;
    const shifted = beta.subtract(mulPublic(G, v));
    commitments.push([
      mulPublic(G, r).subtract(mulPublic(alpha, c)),
      mulPublic(ctx.publicKey, r).subtract(mulPublic(shifted, c)),
    ]);
  }
  return mod(sum) === rangeChallenge(ctx, pseudonym, label, lo, hi, alpha, beta, commitments);
}

const choiceLabel = (ci, j) => `contest/${ci}/choice/${j}`;
const sumLabel = (ci) => `contest/${ci}/sum`;

// ---- ballots (§4.4) ------------------------------------------------------------------------

/**
 * Encrypts `values` (one array per contest, one integer per choice) for the voter `pseudonym`
 * (hex). Returns `{ ballot, reveal, tracker }`; keep `reveal` secret unless the voter challenges
 * the ballot, and never cast a ballot whose reveal was shown. `nonces` defaults to the platform's
 * cryptographic generator.
 */
export function encryptBallot(ctx, pseudonym, values, nonces = randomNonces()) {
  const pseudonymBytes = hex32(pseudonym, 'pseudonym');
  if (values.length !== ctx.contests.length) {
    throw new Error(`${values.length} contests of values for ${ctx.contests.length} contests`);
  }
  ctx.contests.forEach((contest, ci) => checkValues(contest, values[ci], ci));
  const contests = [];
  const reveals = [];
  ctx.contests.forEach((contest, ci) => {
    const [lo, hi] = choiceRange(contest);
    const choices = [];
    const nonceList = [];
    let sumAlpha = ZERO;
    let sumBeta = ZERO;
    let sumNonce = 0n;
    values[ci].forEach((value, j) => {
      const m = BigInt(value);
      const r = nonces.next();
      const alpha = mul(G, r);
      const beta = mulPublic(G, m).add(mul(ctx.publicKey, r));
      const proof = proveRange(ctx, pseudonymBytes, choiceLabel(ci, j), lo, hi, alpha, beta, m, r, nonces);
      choices.push({ alpha: pointHex(alpha), beta: pointHex(beta), proof });
      nonceList.push(scalarHex(r));
      sumAlpha = sumAlpha.add(alpha);
      sumBeta = sumBeta.add(beta);
      sumNonce = mod(sumNonce + r);
    });
    const range = sumRange(contest);
    const sumProof = range
      ? proveRange(ctx, pseudonymBytes, sumLabel(ci), range[0], range[1], sumAlpha, sumBeta,
          BigInt(values[ci].reduce((a, b) => a + b, 0)), sumNonce, nonces)
      : [];
    contests.push({ choices, sum_proof: sumProof });
    reveals.push({ values: [...values[ci]], nonces: nonceList });
  });
  const ballot = { election_hash: toHex(ctx.electionHash), pseudonym: toHex(pseudonymBytes), contests };
  const tracker = ballotTracker(ballot);
  return { ballot, reveal: { tracker: tracker.display, contests: reveals }, tracker };
}

/** `ballot_bytes` of §4.5. */
export function ballotBytes(ballot) {
  const parts = [hex32(ballot.election_hash, 'election hash'), hex32(ballot.pseudonym, 'pseudonym'), le64(ballot.contests.length)];
  const pairs = (proof) => {
    parts.push(le64(proof.length));
    for (const p of proof) parts.push(hex32(p.c, 'proof'), hex32(p.r, 'proof'));
  };
  for (const contest of ballot.contests) {
    parts.push(le64(contest.choices.length));
    for (const choice of contest.choices) {
      parts.push(hex32(choice.alpha, 'alpha'), hex32(choice.beta, 'beta'));
      pairs(choice.proof);
    }
    pairs(contest.sum_proof);
  }
  return concat(parts);
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Crockford base32, 5 bits per character, most significant first. */
export function crockfordBase32(bytes) {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = ((buffer << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += CROCKFORD[(buffer >> bits) & 31];
    }
  }
  return out;
}

/** The tracker (§4.5): `{ hash, display }`, display being `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`. */
export function ballotTracker(ballot) {
  const hash = byteHash('securevote/v1/tracker', [ballotBytes(ballot)]);
  const text = crockfordBase32(hash.slice(0, 15));
  return { hash: toHex(hash), display: text.match(/.{4}/g).join('-') };
}

/**
 * Verifies a ballot (§4.4): election, optional expected pseudonym, shape, canonical encodings and
 * every proof. Returns the decoded ciphertexts; throws an Error naming the first failure.
 */
export function verifyBallot(ctx, ballot, expectedPseudonym = null) {
  if (ballot.election_hash !== toHex(ctx.electionHash)) throw new Error('ballot is for another election');
  if (expectedPseudonym !== null && ballot.pseudonym !== expectedPseudonym) {
    throw new Error("ballot is bound to another voter's pseudonym");
  }
  const pseudonymBytes = hex32(ballot.pseudonym, 'pseudonym');
  if (ballot.contests.length !== ctx.contests.length) throw new Error('wrong number of contests');
  return ctx.contests.map((contest, ci) => {
    const encrypted = ballot.contests[ci];
    if (encrypted.choices.length !== contest.choices.length) throw new Error(`contest ${ci}: wrong number of choices`);
    const [lo, hi] = choiceRange(contest);
    const range = sumRange(contest);
    if (encrypted.sum_proof.length !== (range ? Number(range[1] - range[0] + 1n) : 0)) {
      throw new Error(`contest ${ci}: wrong sum proof length`);
    }
    let sumAlpha = ZERO;
    let sumBeta = ZERO;
    const decoded = encrypted.choices.map((choice, j) => {
      const label = choiceLabel(ci, j);
      const alpha = pointFromBytes(hex32(choice.alpha, `${label} alpha`));
      if (alpha.equals(ZERO)) throw new Error(`${label} alpha: the identity point is not allowed here`);
      const beta = pointFromBytes(hex32(choice.beta, `${label} beta`));
      if (!verifyRange(ctx, pseudonymBytes, label, lo, hi, alpha, beta, choice.proof)) {
        throw new Error(`${label}: the proof does not verify`);
      }
      sumAlpha = sumAlpha.add(alpha);
      sumBeta = sumBeta.add(beta);
      return [alpha, beta];
    });
    if (range && !verifyRange(ctx, pseudonymBytes, sumLabel(ci), range[0], range[1], sumAlpha, sumBeta, encrypted.sum_proof)) {
      throw new Error(`${sumLabel(ci)}: the proof does not verify`);
    }
    return decoded;
  });
}

/**
 * The Benaloh challenge (§4.6): checks the ballot, its tracker and that every revealed value and
 * nonce give its ciphertext. Returns the values per contest; throws on any mismatch.
 */
export function verifyReveal(ctx, ballot, reveal) {
  const decoded = verifyBallot(ctx, ballot);
  if (reveal.tracker !== ballotTracker(ballot).display) throw new Error('the reveal is for another tracker');
  if (reveal.contests.length !== ctx.contests.length) throw new Error('wrong number of contests in the reveal');
  return ctx.contests.map((contest, ci) => {
    const { values, nonces } = reveal.contests[ci];
    checkValues(contest, values, ci);
    if (nonces.length !== contest.choices.length) throw new Error(`contest ${ci}: wrong number of nonces`);
    values.forEach((value, j) => {
      const r = scalarFromBytes(hex32(nonces[j], 'nonce'));
      const [alpha, beta] = decoded[ci][j];
      const expectedBeta = mulPublic(G, BigInt(value)).add(mulPublic(ctx.publicKey, r));
      if (!mulPublic(G, r).equals(alpha) || !expectedBeta.equals(beta)) {
        throw new Error(`${choiceLabel(ci, j)}: the revealed value and nonce do not give this ciphertext`);
      }
    });
    return [...values];
  });
}
