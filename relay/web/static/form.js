/* Terminrelay booking form: comfort only. Everything works without this file. */
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

  /* Links in the summary move focus to the field itself, not only scroll to it. */
  function summaryLinks() {
    var summary = document.getElementById("error-summary");
    if (!summary) return;
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) return;
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) return;
      event.preventDefault();
      target.scrollIntoView({ block: "center" });
      target.focus();
    });
  }

  /* Offer only the slots of the chosen doctor and appointment type. */
  function slotFilter() {
    var selects = document.querySelectorAll("select[data-filter]");
    var slots = document.querySelectorAll(".slots .choice[data-doctor]");
    if (!selects.length || !slots.length) return;

    function apply() {
      var wanted = {};
      selects.forEach(function (select) {
        wanted[select.getAttribute("data-filter")] = select.value;
      });
      slots.forEach(function (row) {
        var doctor = row.getAttribute("data-doctor");
        var type = row.getAttribute("data-appointment-type");
        var show =
          (!wanted.doctor || !doctor || doctor === wanted.doctor) &&
          (!wanted.appointment_type || !type || type === wanted.appointment_type);
        row.hidden = !show;
        var radio = row.querySelector("input");
        if (!show && radio.checked) radio.checked = false;
      });
      document.querySelectorAll(".slots .day").forEach(function (day) {
        day.hidden = !day.querySelector(".choice:not([hidden])");
      });
    }

    selects.forEach(function (select) {
      select.addEventListener("change", apply);
    });
    apply();
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

  ready(function () {
    focusSummary();
    summaryLinks();
    slotFilter();
    wishSelects();
  });
})();
