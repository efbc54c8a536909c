/* Terminrelay proof of work: solves the relay's ALTCHA challenge (relay/pow.py) while the
   patient fills in the form, and holds a submission back until it is solved.

   The same file runs as a Web Worker (the search itself, off the page's thread) and on the
   page (the form, the progress and the screen reader announcements). Where workers are
   missing the search runs on the page in small slices, so the page stays responsive.
   Nothing is loaded from anywhere but the relay. */
(function () {
  "use strict";

  /* SHA-256 of a short ASCII message, as 8 words. The salt and number fit one 64-byte
     block (at most 55 bytes), so each try is one compression, without allocations. */
  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2
  ]);
  var W = new Int32Array(64);
  var OUT = new Int32Array(8);
  var BLOCK = new Uint8Array(64);

  function compress(block) {
    var i, t1, t2, w15, w2;
    for (i = 0; i < 16; i++) {
      W[i] = (block[4 * i] << 24) | (block[4 * i + 1] << 16) | (block[4 * i + 2] << 8) | block[4 * i + 3];
    }
    for (i = 16; i < 64; i++) {
      w15 = W[i - 15];
      w2 = W[i - 2];
      W[i] = (((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)) +
        W[i - 7] +
        (((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)) +
        W[i - 16] | 0;
    }
    var a = 0x6a09e667, b = 0xbb67ae85 | 0, c = 0x3c6ef372, d = 0xa54ff53a | 0;
    var e = 0x510e527f, f = 0x9b05688c | 0, g = 0x1f83d9ab, h = 0x5be0cd19;
    for (i = 0; i < 64; i++) {
      t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        ((e & f) ^ (~e & g)) + K[i] + W[i] | 0;
      t2 = (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) ^ (a & c) ^ (b & c)) | 0;
      h = g; g = f; f = e; e = d + t1 | 0; d = c; c = b; b = a; a = t1 + t2 | 0;
    }
    OUT[0] = a + 0x6a09e667 | 0; OUT[1] = b + 0xbb67ae85 | 0;
    OUT[2] = c + 0x3c6ef372 | 0; OUT[3] = d + 0xa54ff53a | 0;
    OUT[4] = e + 0x510e527f | 0; OUT[5] = f + 0x9b05688c | 0;
    OUT[6] = g + 0x1f83d9ab | 0; OUT[7] = h + 0x5be0cd19 | 0;
  }

  function targetWords(hex) {
    var words = new Int32Array(8);
    for (var i = 0; i < 8; i++) words[i] = parseInt(hex.substr(8 * i, 8), 16) | 0;
    return words;
  }

  /* Tries numbers from..to (inclusive); the number found, or -1. */
  function search(salt, target, from, to) {
    var saltLength = salt.length, i, n, digits, length, bits;
    for (i = 0; i < saltLength; i++) BLOCK[i] = salt.charCodeAt(i);
    for (n = from; n <= to; n++) {
      digits = String(n);
      length = saltLength + digits.length;
      for (i = 0; i < digits.length; i++) BLOCK[saltLength + i] = digits.charCodeAt(i);
      BLOCK[length] = 0x80;
      for (i = length + 1; i < 60; i++) BLOCK[i] = 0;
      bits = length * 8;
      BLOCK[60] = bits >>> 24; BLOCK[61] = (bits >>> 16) & 255;
      BLOCK[62] = (bits >>> 8) & 255; BLOCK[63] = bits & 255;
      compress(BLOCK);
      if (OUT[0] === target[0] && OUT[1] === target[1] && OUT[2] === target[2] &&
          OUT[3] === target[3] && OUT[4] === target[4] && OUT[5] === target[5] &&
          OUT[6] === target[6] && OUT[7] === target[7]) {
        return n;
      }
    }
    return -1;
  }

  /* Solves `challenge`, reporting progress (0..1); calls done(number) or done(-1). */
  var SLICE = 20000;
  function solve(challenge, progress, done, yieldBetween) {
    if (challenge.salt.length + String(challenge.maxnumber).length > 55) {
      done(-1);
      return;
    }
    var target = targetWords(challenge.challenge);
    var next = 0;
    /* One slice; true when finished. */
    function slice() {
      var to = Math.min(next + SLICE - 1, challenge.maxnumber);
      var found = search(challenge.salt, target, next, to);
      if (found >= 0) {
        done(found);
        return true;
      }
      if (to >= challenge.maxnumber) {
        done(-1);
        return true;
      }
      next = to + 1;
      progress(next / (challenge.maxnumber + 1));
      return false;
    }
    if (!yieldBetween) {
      while (!slice()) { /* a worker has no page to keep responsive */ }
      return;
    }
    (function step() {
      if (!slice()) setTimeout(step, 0);
    })();
  }

  /* In a worker: solve what the page sends, report back. */
  if (typeof document === "undefined") {
    self.onmessage = function (event) {
      var started = Date.now();
      var lastReport = 0;
      solve(event.data, function (share) {
        var now = Date.now();
        if (now - lastReport > 100) {
          lastReport = now;
          self.postMessage({ progress: share });
        }
      }, function (number) {
        self.postMessage({ number: number, took: Date.now() - started });
      }, false);
    };
    return;
  }

  var scriptUrl = document.currentScript && document.currentScript.src;

  function payload(challenge, number) {
    return btoa(JSON.stringify({
      algorithm: challenge.algorithm,
      challenge: challenge.challenge,
      number: number,
      salt: challenge.salt,
      signature: challenge.signature
    }));
  }

  function run(challenge, progress, done) {
    var worker = null;
    if (typeof Worker !== "undefined" && scriptUrl) {
      try {
        worker = new Worker(scriptUrl);
      } catch (error) {
        worker = null;
      }
    }
    if (!worker) {
      solve(challenge, progress, done, true);
      return;
    }
    worker.onmessage = function (event) {
      if (event.data.progress !== undefined) {
        progress(event.data.progress);
      } else {
        worker.terminate();
        done(event.data.number);
      }
    };
    worker.onerror = function (event) {
      /* A worker the browser would not run: solve on the page instead. */
      event.preventDefault();
      worker.terminate();
      solve(challenge, progress, done, true);
    };
    worker.postMessage(challenge);
  }

  function start() {
    var box = document.getElementById("pow");
    if (!box) return;
    var form = box.closest("form");
    var field = box.querySelector("input[name='altcha']");
    var status = document.getElementById("pow-status");
    var bar = document.getElementById("pow-progress");
    var challenge = JSON.parse(box.getAttribute("data-challenge"));
    var solved = false;
    var sendWhenSolved = false;
    var started = Date.now();

    function say(key) {
      status.textContent = box.getAttribute("data-text-" + key);
    }

    say("running");
    bar.hidden = false;
    box.setAttribute("data-state", "running");
    run(challenge, function (share) {
      bar.value = Math.min(99, Math.round(share * 100));
    }, function (number) {
      if (number < 0) {
        box.setAttribute("data-state", "failed");
        say("failed");
        return;
      }
      field.value = payload(challenge, number);
      solved = true;
      bar.value = 100;
      box.setAttribute("data-state", "solved");
      box.setAttribute("data-took-ms", String(Date.now() - started));
      if (sendWhenSolved) {
        say("sending");
        /* A submit event, so that the form's script seals the booking first. */
        if (form.requestSubmit) {
          form.requestSubmit();
        } else {
          form.submit();
        }
      } else {
        say("done");
      }
    });

    form.addEventListener("submit", function (event) {
      /* The picker's buttons only show other slots; they send nothing to book. */
      var submitter = event.submitter;
      if (solved || (submitter && submitter.name === "nav")) return;
      event.preventDefault();
      sendWhenSolved = true;
      say("sending");
    });
  }

  /* For the form's script, which shows the relay's answer page in place of the form. */
  window.TerminrelayPow = { start: start };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
