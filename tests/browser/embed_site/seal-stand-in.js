/* A stand-in for relay/web/static/seal.js, for the tests of embed mode that never seal
   (tests/browser/test_embed.py): the interface embed.js calls, with the self-test's
   answer chosen by the page (data-self-test="fail" on its script element). It seals
   nothing; the tests that book use the relay's own seal.js. */
(function () {
  "use strict";
  var script = document.currentScript;
  var passes = !(script && script.getAttribute("data-self-test") === "fail");
  window.TerminrelaySeal = {
    version: "stand-in",
    selfTest: function () {
      return passes;
    },
    keyId: function () {
      return Promise.reject(new Error("the stand-in makes no key ids"));
    },
    sealDocument: function () {
      throw new Error("the stand-in seals nothing");
    }
  };
})();
