/* Terminrelay in an iframe: tells the page around it how tall this page is, so the
   practice's website can size the frame without a scroll bar (docs/embedding.md).

   Only a page the relay lets be framed can run in a frame at all: its CSP names the
   practice's origins in frame-ancestors (its `frame_ancestors`), every other page says
   'none'. The message goes to the parent's origin as the browser reports it
   (location.ancestorOrigins, else the referrer's origin), never to "*", and where the
   page names the practice's origins (data-frame-ancestors on this script) only to one
   of them. It carries nothing but the height. */
(function () {
  "use strict";

  if (window.parent === window) return;
  var script = document.currentScript;
  var listed = ((script && script.getAttribute("data-frame-ancestors")) || "").split(" ").filter(Boolean);

  function originOf(url) {
    try {
      return new URL(url).origin;
    } catch (error) {
      return null;
    }
  }

  function portOf(url) {
    return url.port || (url.protocol === "https:" ? "443" : "80");
  }

  /* A frame-ancestors source as relay/web/origin.py matches it: the origin exactly, or
     https://*.host for any host under it. */
  function matches(origin, source) {
    var wildcard = source.indexOf("https://*.") === 0;
    var allowed, parent;
    try {
      allowed = new URL(wildcard ? source.replace("*.", "") : source);
      parent = new URL(origin);
    } catch (error) {
      return false;
    }
    if (allowed.protocol !== parent.protocol || portOf(allowed) !== portOf(parent)) return false;
    return wildcard
      ? parent.hostname.slice(-(allowed.hostname.length + 1)) === "." + allowed.hostname
      : parent.hostname === allowed.hostname;
  }

  function parentOrigin() {
    var ancestors = window.location.ancestorOrigins;
    if (ancestors && ancestors.length) return ancestors[0];
    /* Without ancestorOrigins (Firefox) only a listed origin is believed from the referrer. */
    return listed.length ? originOf(document.referrer) : null;
  }

  var target = parentOrigin();
  if (!target || target === "null") return;
  if (listed.length && !listed.some(function (source) { return matches(target, source); })) return;

  var sent = -1;
  function post() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === sent) return;
    sent = height;
    window.parent.postMessage({ type: "terminrelay:height", height: height }, target);
  }

  if (typeof ResizeObserver === "function") {
    new ResizeObserver(post).observe(document.documentElement);
  }
  window.addEventListener("load", post);
  window.addEventListener("resize", post);
  post();
})();
