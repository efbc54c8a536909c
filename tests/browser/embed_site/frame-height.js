/* Terminrelay in an iframe: the frame as tall as the page in it (docs/embedding.md). */
window.addEventListener("message", function (event) {
  var frame = document.getElementById("terminrelay-form");
  if (!frame || event.origin !== new URL(frame.src).origin) return;
  if (event.source !== frame.contentWindow) return;
  var data = event.data;
  if (!data || data.type !== "terminrelay:height" || typeof data.height !== "number") return;
  frame.style.height = Math.min(Math.max(Math.ceil(data.height), 200), 20000) + "px";
});
