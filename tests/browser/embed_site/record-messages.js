/* Test only: keeps every message this page receives, for tests/browser/test_embed.py. */
window.received = [];
window.addEventListener("message", function (event) {
  window.received.push({ origin: event.origin, data: event.data });
});
