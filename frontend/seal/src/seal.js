/* Terminrelay browser sealing (docs/protocol.md, "Sealed in the browser (protocol 2)"):
   the patient's browser seals the inner booking document to the practice's public key
   exactly as relay/crypto/sealing.py seals a booking, less the relay's signature:
   canonical JSON, UTF-8, padded (length prefix, max(768, Padmé), at most 8192 bytes),
   in an anonymous sealed box (libsodium's crypto_box_seal).

   Built by scripts/build-seal into relay/web/static/seal.js, which the relay serves under
   its CSP (script-src 'self'): no eval, no WebAssembly, nothing loaded from elsewhere.
   Randomness comes from crypto.getRandomValues only. */

import { blake2b } from "@noble/hashes/blake2.js";
// nacl-fast.js, the package's default: with the CPU throttled 4x a booking seals in about
// 12 ms at the 95th percentile, where the smaller nacl.js (4 KB less gzipped) took 66 ms
// (bench/seal_browser.py).
import nacl from "tweetnacl";

// relay/crypto/sealing.py: PAD_FLOOR, PAD_MAX (the privacy argument is in docs/protocol.md,
// "Padding").
const PAD_FLOOR = 768;
const PAD_MAX = 8192;
const LENGTH_BYTES = 4;
const KEY_BYTES = 32;
const NONCE_BYTES = 24;
// HSalsa20's input and constant in crypto_box_beforenm: 16 zero bytes, "expand 32-byte k".
const ZERO16 = new Uint8Array(16);
const SIGMA = new TextEncoder().encode("expand 32-byte k");

/* Python's json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).
   JSON.stringify escapes strings as Python does with ensure_ascii=False; keys sort by
   UTF-16 code units, which is Python's order for the ASCII keys of a booking. Numbers are
   written as JavaScript writes them (integers as Python does); NaN and Infinity, which
   Python would write as bare words, are refused. */
function canonicalJson(value) {
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new TypeError("canonicalJson: not a finite number");
  }
  if (value === null || typeof value !== "object" || typeof value.toJSON === "function") {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return "[" + value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",") + "]";
  }
  const members = [];
  for (const key of Object.keys(value).sort()) {
    if (value[key] !== undefined) {
      members.push(JSON.stringify(key) + ":" + canonicalJson(value[key]));
    }
  }
  return "{" + members.join(",") + "}";
}

/* relay.crypto.sealing.padme: round up so that only the top log2(log2(length)) + 1 bits
   of the length stay significant (Nikitin et al., PETS 2019). */
function padme(length) {
  if (length < 2) return length;
  const exponent = 31 - Math.clz32(length);
  const droppedBits = exponent - (32 - Math.clz32(exponent));
  const mask = (1 << droppedBits) - 1;
  return (length + mask) & ~mask;
}

/* relay.crypto.sealing.pad: 4-byte big-endian length, the bytes, zeros up to
   max(768, Padmé(4 + length)); a message that would fill more than 8192 bytes throws. */
function pad(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError("pad: a Uint8Array is needed");
  const framedLength = LENGTH_BYTES + bytes.length;
  // Checked before padme, whose 32-bit arithmetic holds for lengths far above the cap.
  const size = framedLength > PAD_MAX ? framedLength : Math.max(PAD_FLOOR, padme(framedLength));
  if (size > PAD_MAX) {
    throw new RangeError(`message of ${framedLength} bytes exceeds the largest padded size`);
  }
  const padded = new Uint8Array(size);
  new DataView(padded.buffer).setUint32(0, bytes.length, false);
  padded.set(bytes, LENGTH_BYTES);
  return padded;
}

function randomBytes(length) {
  return crypto.getRandomValues(new Uint8Array(length));
}

function checkKey(key) {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new TypeError("a key is a Uint8Array of 32 bytes");
  }
}

/* crypto_box_seal's nonce: BLAKE2b with a 24-byte output of the ephemeral public key
   followed by the recipient's. */
function sealNonce(ephemeralKey, publicKey) {
  const input = new Uint8Array(2 * KEY_BYTES);
  input.set(ephemeralKey);
  input.set(publicKey, KEY_BYTES);
  return blake2b(input, { dkLen: NONCE_BYTES });
}

/* libsodium's crypto_box_seal, which PyNaCl's SealedBox(public_key).encrypt calls: a fresh
   X25519 key pair, the box key HSalsa20(X25519(esk, pk), 0), XSalsa20-Poly1305 under the
   nonce above; the output is the ephemeral public key, the MAC and the ciphertext. */
function sealedBox(publicKey, message) {
  checkKey(publicKey);
  if (!(message instanceof Uint8Array)) throw new TypeError("sealedBox: a Uint8Array is needed");
  const secretKey = randomBytes(KEY_BYTES);
  const shared = new Uint8Array(KEY_BYTES);
  const boxKey = new Uint8Array(KEY_BYTES);
  try {
    const ephemeralKey = nacl.scalarMult.base(secretKey);
    nacl.lowlevel.crypto_scalarmult(shared, secretKey, publicKey);
    // A low-order public key gives the all-zero secret, which libsodium refuses too.
    let bits = 0;
    for (const byte of shared) bits |= byte;
    if (bits === 0) throw new Error("sealedBox: unusable public key");
    nacl.lowlevel.crypto_core_hsalsa20(boxKey, ZERO16, shared, SIGMA);
    const box = nacl.secretbox(message, sealNonce(ephemeralKey, publicKey), boxKey);
    const sealed = new Uint8Array(KEY_BYTES + box.length);
    sealed.set(ephemeralKey);
    sealed.set(box, KEY_BYTES);
    return sealed;
  } finally {
    // What this file holds of the ephemeral secret; tweetnacl's own temporaries are
    // garbage for the collector.
    secretKey.fill(0);
    shared.fill(0);
    boxKey.fill(0);
  }
}

/* crypto_box_seal_open, for the self-test only: the plaintext, or null. */
function openSealedBox(secretKey, publicKey, sealed) {
  const ephemeralKey = sealed.subarray(0, KEY_BYTES);
  const boxKey = nacl.box.before(ephemeralKey, secretKey);
  const opened = nacl.secretbox.open(
    sealed.subarray(KEY_BYTES),
    sealNonce(ephemeralKey, publicKey),
    boxKey,
  );
  boxKey.fill(0);
  return opened;
}

function fromBase64(text) {
  const binary = atob(text.trim());
  const bytes = new Uint8Array(binary.length);
  for (let index = 0; index < binary.length; index++) bytes[index] = binary.charCodeAt(index);
  return bytes;
}

function toBase64(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function publicKeyBytes(publicKeyBase64) {
  const raw = fromBase64(publicKeyBase64);
  checkKey(raw);
  return raw;
}

/* The blob of a protocol 2 submission: canonical JSON, UTF-8, padded, sealed, base64. */
function sealDocument(publicKeyBase64, document) {
  const publicKey = publicKeyBytes(publicKeyBase64);
  return toBase64(sealedBox(publicKey, pad(new TextEncoder().encode(canonicalJson(document)))));
}

/* The key id of docs/protocol.md, "Keys and tickets": the first 16 hexadecimal digits of
   SHA-256 of the 32 raw key bytes. WebCrypto: the relay's pages are served over HTTPS. */
async function keyId(publicKeyBase64) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", publicKeyBytes(publicKeyBase64)));
  let hex = "";
  for (const byte of digest.subarray(0, 8)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

function equalBytes(left, right) {
  if (left === null || left.length !== right.length) return false;
  let difference = 0;
  for (let index = 0; index < left.length; index++) difference |= left[index] ^ right[index];
  return difference === 0;
}

// A box PyNaCl sealed to the test key 1, 2, ..., 32: opening it checks X25519, HSalsa20,
// the BLAKE2b nonce, XSalsa20 and Poly1305 against libsodium itself.
const KNOWN_BOX = "Hp/n+gU0/eyVmWzAgJixhytOAxcBOtulrpQoM8cBQy+MAuwSIKRI9QYTecrn4SXpDVsuq3bz1jVMSY0=";
const KNOWN_MESSAGE = "terminrelay";

/* Whether this browser can seal: randomness, the padding of a known input, a box libsodium
   sealed, and a seal/open round trip with a fresh key pair. False rather than a throw, so
   the form falls back to the relay's sealing (protocol 1). */
function selfTest() {
  try {
    if (typeof crypto === "undefined" || typeof crypto.getRandomValues !== "function") {
      return false;
    }
    const message = new TextEncoder().encode(KNOWN_MESSAGE);
    // 1000 bytes frame to 1004, which Padmé rounds to a multiple of 32: 1024.
    const padded = pad(new Uint8Array(1000).fill(7));
    const expected = new Uint8Array(1024);
    expected.set([0, 0, 3, 232]);
    expected.fill(7, LENGTH_BYTES, LENGTH_BYTES + 1000);
    const testKey = Uint8Array.from({ length: KEY_BYTES }, (_, index) => index + 1);
    const known = openSealedBox(testKey, nacl.scalarMult.base(testKey), fromBase64(KNOWN_BOX));
    const secretKey = randomBytes(KEY_BYTES);
    const publicKey = nacl.scalarMult.base(secretKey);
    const opened = openSealedBox(secretKey, publicKey, sealedBox(publicKey, padded));
    secretKey.fill(0);
    return (
      equalBytes(padded, expected) &&
      pad(message).length === PAD_FLOOR &&
      equalBytes(known, message) &&
      equalBytes(opened, expected)
    );
  } catch {
    return false;
  }
}

window.TerminrelaySeal = Object.freeze({
  version: "1",
  canonicalJson,
  pad,
  sealedBox,
  sealDocument,
  keyId,
  selfTest,
});
