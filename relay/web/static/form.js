/* Terminrelay booking form. Everything works without this file, except where a practice
   takes only requests the browser sealed itself (docs/protocol.md, "Sealed in the
   browser"): then this file, with seal.js, is what seals them.
   No third-party code here; served under the relay's CSP (script-src 'self', connect-src
   'self'). */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  /* Move focus to the error summary, so screen readers read it and keyboards start there. */
  function focusSummary() {
    var summary = document.getElementById("error-summary");
    if (summary && document.activeElement !== summary) {
      summary.focus();
    }
  }

  /* Links in the summary move focus to the control itself, not only scroll to it; a
     control inside the closed wish box opens the box first. */
  function summaryLinks() {
    var summary = document.getElementById("error-summary");
    if (!summary) return;
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) return;
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) return;
      event.preventDefault();
      var box = target.closest("details");
      if (box) box.open = true;
      target.scrollIntoView({ block: "center" });
      target.focus();
    });
  }

  /* The slot picker in place: a picker button or a changed filter fetches the page of the
     new state (a plain GET of public choices, never typed data) and swaps in its picker.
     On any failure the button does what it does without JavaScript. */
  function slotPicker() {
    var form = document.querySelector("form.booking");
    var region = document.getElementById("picker");
    var status = document.getElementById("picker-status");
    if (!form || !region || !window.fetch || !window.DOMParser) return;
    var show = document.getElementById("picker-show");
    if (show) show.hidden = true;
    var bypass = false;

    function checkedSlot() {
      var checked = form.querySelector("input[name='slot']:checked");
      return checked ? checked.value : "";
    }

    // Where the practice keeps times for some insurance types, the insurance filters them
    // too; elsewhere it never goes into a URL.
    var byInsurance = region.hasAttribute("data-insurance-filter");

    // `chosen`: the insurance radio just chosen. While the browser seals, the radios have
    // no name, so the one chosen before may still read as checked until sealing.js clears it.
    function withFilters(url, chosen) {
      if (byInsurance) {
        var insurance = chosen || checkedInsurance(form);
        if (insurance) {
          url.searchParams.set("insurance", insurance);
        } else {
          url.searchParams.delete("insurance");
        }
      }
      ["doctor", "appointment_type"].forEach(function (name) {
        var select = filter(form, name);
        if (!select) return;
        if (select.value) {
          url.searchParams.set(name, select.value);
        } else {
          url.searchParams.delete(name);
        }
      });
      return url;
    }

    function announce(text) {
      if (!status) return;
      // Emptied first, so the same sentence twice is still read out.
      status.textContent = "";
      window.setTimeout(function () {
        status.textContent = text;
      }, 100);
    }

    function restoreFocus(focusId) {
      var target = focusId ? document.getElementById(focusId) : null;
      if (!target || target.disabled) {
        target =
          region.querySelector("input[name='slot']:checked") ||
          region.querySelector(".day[aria-pressed='true']") ||
          region.querySelector("input[name='slot']");
      }
      if (target) target.focus();
    }

    function load(url, focusId, fallback) {
      region.setAttribute("aria-busy", "true");
      fetch(url.toString(), { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok) throw new Error("status " + response.status);
          return response.text();
        })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.getElementById("picker");
          if (!fresh) throw new Error("no picker in the answer");
          region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes));
          var state = fresh.getAttribute("data-url");
          region.setAttribute("data-url", state);
          form.setAttribute("action", state);
          window.history.replaceState(null, "", state);
          announce(fresh.getAttribute("data-status"));
          if (focusId !== null) restoreFocus(focusId);
        })
        .catch(function () {
          if (fallback) fallback();
        })
        .finally(function () {
          region.removeAttribute("aria-busy");
        });
    }

    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (bypass || !button || button.name !== "nav" || button.hasAttribute("data-language")) {
        return;
      }
      event.preventDefault();
      var url = withFilters(new URL(button.formAction, window.location.href));
      if (button.value !== "next") {
        // Day and week buttons keep the time chosen so far; "next" names its own.
        var slot = checkedSlot();
        if (slot) {
          url.searchParams.set("slot", slot);
        } else {
          url.searchParams.delete("slot");
        }
      }
      var focusId = button.value === "next" ? "" : button.id;
      load(url, focusId, function () {
        bypass = true;
        form.requestSubmit(button);
      });
    });

    var lists = [filter(form, "doctor"), filter(form, "appointment_type")];
    if (byInsurance) {
      lists = lists.concat(Array.prototype.slice.call(insuranceRadios(form)));
    }
    lists.forEach(
      function (select) {
        if (!select) return;
        select.addEventListener("change", function () {
          var chosen = select.type === "radio" ? select.value : "";
          var url = withFilters(new URL(region.getAttribute("data-url"), window.location.href), chosen);
          // Other filters: start from the first week that has something to offer.
          url.searchParams.delete("week");
          url.searchParams.delete("day");
          var slot = checkedSlot();
          if (slot) url.searchParams.set("slot", slot);
          load(url, null, null);
        });
      }
    );
  }

  /* A list of the slot picker, with its name or, while the browser seals, without. */
  function filter(form, name) {
    return form.querySelector(
      "select[name='" + name + "'], select[data-seal='" + name + "']"
    );
  }

  /* The insurance radios, with their name or, while the browser seals, without. */
  function insuranceRadios(form) {
    return form.querySelectorAll(
      "input[type='radio'][name='insurance'], input[type='radio'][data-seal='insurance']"
    );
  }

  function checkedInsurance(form) {
    var checked = Array.prototype.filter.call(insuranceRadios(form), function (radio) {
      return radio.checked;
    });
    return checked.length ? checked[0].value : "";
  }

  /* Typing a wished time selects the "none of these" option. */
  function wishSelects() {
    var wish = document.getElementById("slot-wish");
    var start = document.getElementById("field-start");
    if (!wish || !start) return;
    start.addEventListener("input", function () {
      if (start.value) wish.checked = true;
    });
  }

  /* The language switcher on the form. Without JavaScript its buttons post the form and
     the relay shows it again in that language, with everything typed. Here the sealed
     fields have no names (sealing.js) and must not reach the relay in the clear, so what
     is typed waits in this tab's sessionStorage while the page loads in the other
     language, which takes it back and deletes it at once. */
  var KEPT = "terminrelay-typed:" + window.location.pathname;

  function storage() {
    try {
      return window.sessionStorage; /* a sandboxed frame may not have it: then null */
    } catch (error) {
      return null;
    }
  }

  function languageSwitch() {
    var form = document.querySelector("form.booking");
    var kept = storage();
    if (!form || !kept) return;
    restoreTyped(form, kept);
    document.querySelectorAll("button[data-language]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        var typed = {};
        form.querySelectorAll("input[id], select[id], textarea[id]").forEach(function (el) {
          if (el.type === "hidden" || el.type === "submit") return;
          typed[el.id] = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value;
        });
        try {
          kept.setItem(KEPT, JSON.stringify(typed));
        } catch (error) {
          /* Storage full or refused: the page changes language without the values. */
        }
        window.location.assign(button.formAction);
      });
    });
  }

  function restoreTyped(form, storage) {
    var kept = storage.getItem(KEPT);
    if (kept === null) return;
    storage.removeItem(KEPT);
    var typed;
    try {
      typed = JSON.parse(kept);
    } catch (error) {
      return;
    }
    Object.keys(typed).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el || !form.contains(el)) return;
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = typed[id] === true;
      } else if (typeof typed[id] === "string") {
        el.value = typed[id];
      }
    });
  }

  function init() {
    focusSummary();
    summaryLinks();
    languageSwitch();
    slotPicker();
    wishSelects();
    if (window.TerminrelaySealing) window.TerminrelaySealing.start(init);
  }

  ready(init);
})();
