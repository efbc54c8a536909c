/* Terminrelay: the booking form seals the booking in the browser (docs/protocol.md,
   "Sealed in the browser"). What the patient typed never leaves this page in the clear:
   the fields only the sealed part carries lose their names here, so the plain form cannot
   send them; on submit this file checks them with the relay's own rules
   (booking-rules.json), seals the inner document to the practice key the page names
   (seal.js), and sends the relay only the e-mail address, consent, the time, the ticket,
   the key id and the sealed blob. Without JavaScript, or when seal.js's self-test fails,
   the form posts as before and the relay seals, unless the practice refuses that. */
(function () {
  "use strict";

  var rulesPromise = null;

  function configOf(form) {
    var block = document.getElementById("sealing-config");
    if (!form || !block) return null;
    try {
      return JSON.parse(block.textContent);
    } catch (error) {
      return null;
    }
  }

  function canSeal() {
    var seal = window.TerminrelaySeal;
    try {
      return Boolean(
        seal && window.fetch && window.DOMParser && window.TextEncoder && seal.selfTest()
      );
    } catch (error) {
      return false;
    }
  }

  /* The controls only the sealed part carries, by field name. */
  function sealedControls(form) {
    var byName = {};
    form.querySelectorAll("[data-seal]").forEach(function (element) {
      var name = element.getAttribute("name") || element.getAttribute("data-seal");
      element.setAttribute("data-seal", name);
      element.removeAttribute("name");
      (byName[name] = byName[name] || []).push(element);
      if (element.type === "radio") {
        // Without a name a radio is a group of its own: choosing another must clear it.
        element.addEventListener("change", function () {
          if (!element.checked) return;
          byName[name].forEach(function (other) {
            if (other !== element) other.checked = false;
          });
        });
      }
    });
    return byName;
  }

  function valueOf(elements) {
    if (!elements) return "";
    var first = elements[0];
    if (first.type === "radio") {
      var checked = elements.filter(function (element) {
        return element.checked;
      })[0];
      return checked ? checked.value : "";
    }
    if (first.type === "checkbox") return first.checked ? "true" : "false";
    return first.value;
  }

  /* Rules ----------------------------------------------------------------------------- */

  function forbidden(text, ranges) {
    for (var index = 0; index < text.length; index++) {
      var code = text.codePointAt(index);
      if (code > 0xffff) index++;
      if (code >= 0x20 && code <= 0x7e) continue;
      for (var r = 0; r < ranges.length; r++) {
        if (code >= ranges[r][0] && code <= ranges[r][1]) return true;
      }
    }
    return false;
  }

  function length(text) {
    // Python counts code points, not UTF-16 units.
    return Array.from(text).length;
  }

  /* A text field: its cleaned value, or an error code (relay/rules/values.py clean_text). */
  function cleanText(raw, rule, rules) {
    var text = rule.multiline ? raw.replace(/\r\n?|\u0085|\u2028|\u2029/g, "\n") : raw;
    if (rule.max_length && length(text) > rule.max_length) return { error: "too_long" };
    text = text.trim();
    if (!text) return rule.required ? { error: "required" } : { value: null };
    var ranges = rule.multiline ? rules.text.forbidden_multiline : rules.text.forbidden;
    if (forbidden(text, ranges)) return { error: "control_character" };
    return { value: text };
  }

  function birthDate(raw, rules) {
    var text = raw.trim();
    if (!text) return { error: "required" };
    if (!/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/.test(text)) return { error: "invalid_date" };
    var parts = text.split("-").map(Number);
    var born = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2]));
    if (born.getUTCMonth() !== parts[1] - 1 || born.getUTCDate() !== parts[2]) {
      return { error: "invalid_date" };
    }
    var now = new Date();
    var today = [now.getFullYear(), now.getMonth() + 1, now.getDate()];
    var before = parts[0] * 10000 + parts[1] * 100 + parts[2];
    var todayNumber = today[0] * 10000 + today[1] * 100 + today[2];
    if (before >= todayNumber) return { error: "not_in_past" };
    var age = today[0] - parts[0] - (today[1] * 100 + today[2] < parts[1] * 100 + parts[2] ? 1 : 0);
    if (age > rules.birth_date.max_age_years) return { error: "too_old" };
    return { value: text };
  }

  function phone(raw, rule, rules) {
    var cleaned = cleanText(raw, rule, rules);
    if (cleaned.error || cleaned.value === null) return cleaned;
    var digits = (cleaned.value.match(/[0-9]/g) || []).length;
    var pattern = new RegExp("^(?:" + rules.phone.pattern + ")$");
    if (
      !pattern.test(cleaned.value) ||
      digits < rules.phone.min_digits ||
      digits > rules.phone.max_digits
    ) {
      return { error: "invalid_phone" };
    }
    return cleaned;
  }

  function choice(raw, rule) {
    if (!raw) return { error: "required" };
    return rule.choices.indexOf(raw) < 0 ? { error: "invalid_choice" } : { value: raw };
  }

  /* Wall time in the practice's zone as ISO 8601 with its offset, like the relay's. */
  function zoned(local, zone) {
    var match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local);
    if (!match) return null;
    var wall = Date.UTC(+match[1], +match[2] - 1, +match[3], +match[4], +match[5]);
    var format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
    });
    function offsetAt(instant) {
      var parts = {};
      format.formatToParts(new Date(instant)).forEach(function (part) {
        parts[part.type] = part.value;
      });
      var seen = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute);
      return seen - instant;
    }
    var offset = offsetAt(wall - offsetAt(wall));
    return iso(wall - offset, offset);
  }

  function iso(instant, offset) {
    var local = new Date(instant + offset);
    function two(n) {
      return (n < 10 ? "0" : "") + n;
    }
    var minutes = Math.abs(offset) / 60000;
    return (
      local.getUTCFullYear() + "-" + two(local.getUTCMonth() + 1) + "-" + two(local.getUTCDate()) +
      "T" + two(local.getUTCHours()) + ":" + two(local.getUTCMinutes()) + ":00" +
      (offset < 0 ? "-" : "+") + two(Math.floor(minutes / 60)) + ":" + two(minutes % 60)
    );
  }

  function plusMinutes(isoText, minutes) {
    var offsetMatch = /([+-])(\d{2}):(\d{2})$/.exec(isoText);
    var sign = offsetMatch[1] === "-" ? -1 : 1;
    var offset = sign * (+offsetMatch[2] * 60 + +offsetMatch[3]) * 60000;
    // The instant plus the type's minutes, shown at the start's offset (the relay shows
    // it in the practice's zone; the practice client compares instants).
    return iso(Date.parse(isoText) + minutes * 60000, offset);
  }

  /* The inner document and the errors of the fields only it carries. */
  function inspect(controls, form, config, rules) {
    var errors = {};
    var values = {};
    Object.keys(rules.fields).forEach(function (name) {
      if (rules.sealed_only.indexOf(name) < 0) return;
      var rule = rules.fields[name];
      var raw = valueOf(controls[name]);
      var result;
      if (name === "birth_date") {
        result = birthDate(raw, rules);
      } else if (name === "phone") {
        result = phone(raw, rule, rules);
      } else if (rule.kind === "choice" && rule.choices) {
        result = choice(raw, rule);
      } else if (rule.kind === "bool" && !rule.required) {
        // The reminder box: unticked, or not offered at all, is no.
        result = { value: raw === "true" };
      } else if (rule.kind === "bool") {
        result = raw === "true" ? { value: true } : raw === "false" ? { value: false } : { error: "required" };
      } else {
        result = cleanText(raw, rule, rules);
      }
      if (result.error) {
        errors[name] = result.error;
      } else {
        values[name] = result.value;
      }
    });

    var slotInput = form.querySelector("input[name='slot']:checked");
    var slot = slotInput ? slotInput.value : "";
    if (slot) {
      var start = slot.split("|")[0];
      var slotDoctor = slot.slice(start.length + 1) || null;
      var slotType = slotInput.getAttribute("data-type") || null;
      if (values.doctor && slotDoctor && values.doctor !== slotDoctor) errors.doctor = "slot_mismatch";
      if (values.appointment_type && slotType && values.appointment_type !== slotType) {
        errors.appointment_type = "slot_mismatch";
      }
      values.doctor = slotDoctor || values.doctor || null;
      values.appointment_type = slotType || values.appointment_type || null;
      values.start = start;
      values.end = slotInput.getAttribute("data-end") || null;
      values.kind = "slot";
      values.slot = slot;
      // A slot kept for some insurance types: the relay checks the insurance against it,
      // so it goes in the clear too (it tells no more than the slot itself).
      var kept = (slotInput.getAttribute("data-insurance") || "").split(" ").filter(Boolean);
      if (kept.length && values.insurance) {
        if (kept.indexOf(values.insurance) < 0) errors.insurance = "insurance_mismatch";
        values.clearInsurance = values.insurance;
      }
    } else {
      // A wish: the relay reads its time frame; doctor and type only the practice.
      ["doctor", "appointment_type"].forEach(function (name) {
        var list = controls[name] && controls[name][0];
        if (list && list.tagName === "SELECT" && list.options.length > 1 && !values[name]) {
          errors[name] = "wish_required";
        }
      });
      var startField = form.querySelector("input[name='start']");
      var endField = form.querySelector("input[name='end']");
      values.start = startField && startField.value ? zoned(startField.value, config.time_zone) : null;
      values.end = endField && endField.value ? zoned(endField.value, config.time_zone) : null;
      if (values.start && !values.end && values.appointment_type) {
        var minutes = config.types[values.appointment_type];
        if (minutes) values.end = plusMinutes(values.start, minutes);
      }
      values.kind = "wish";
      values.slot = null;
    }
    ["doctor", "appointment_type"].forEach(function (name) {
      if (values[name] === undefined || values[name] === "") values[name] = null;
    });
    return { errors: errors, values: values };
  }

  /* Errors the relay could not see, shown as the relay shows its own ------------------- */

  function clearErrors(form) {
    form.querySelectorAll("[data-sealing-error]").forEach(function (element) {
      element.remove();
    });
    form.querySelectorAll("[data-sealing-invalid]").forEach(function (element) {
      element.removeAttribute("aria-invalid");
      element.removeAttribute("data-sealing-invalid");
    });
    // A new attempt: the summary of the last one goes, the relay's or this file's.
    document.querySelectorAll("#error-summary").forEach(function (summary) {
      summary.remove();
    });
  }

  function labelOf(elements) {
    var first = elements[0];
    var group = first.closest("fieldset");
    if (first.type === "radio" && group) return group.querySelector("legend").textContent.trim();
    var label = document.querySelector("label[for='" + first.id + "']");
    return label ? label.textContent.replace(/\s*\([^)]*\)\s*$/, "").trim() : first.id;
  }

  /* An error summary like the relay's, above the page's heading, focused. */
  function summaryBox(parts) {
    var summary = document.createElement("div");
    summary.className = "error-summary";
    summary.id = "error-summary";
    summary.setAttribute("role", "alert");
    summary.setAttribute("tabindex", "-1");
    summary.setAttribute("data-sealing-summary", "");
    summary.append.apply(summary, parts);
    var heading = document.querySelector("main h1");
    if (heading) heading.before(summary);
    summary.focus();
    summary.scrollIntoView({ block: "start" });
  }

  function showErrors(errors, controls, config) {
    var texts = config.texts;
    var title = document.createElement("h2");
    title.textContent = texts.error_summary_title;
    var lead = document.createElement("p");
    lead.textContent = texts.error_summary_lead;
    var list = document.createElement("ul");
    Object.keys(errors).forEach(function (name) {
      var elements = controls[name];
      var message = (config.messages[name] || {})[errors[name]] || errors[name];
      if (!elements) return;
      var first = elements[0];
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#" + first.id;
      link.textContent = labelOf(elements) + ": " + message;
      item.append(link);
      list.append(item);
      var note = document.createElement("p");
      note.className = "error-message";
      note.id = "error-" + name;
      note.setAttribute("data-sealing-error", "");
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = texts.error_title_prefix + ":";
      note.append(hidden, " " + message);
      var anchor = first.type === "radio" ? first.closest("fieldset").querySelector("legend") :
        document.querySelector("label[for='" + first.id + "']");
      (anchor || first).after(note);
      elements.forEach(function (element) {
        element.setAttribute("aria-invalid", "true");
        element.setAttribute("data-sealing-invalid", "");
        var described = (element.getAttribute("aria-describedby") || "").split(" ");
        if (described.indexOf(note.id) < 0) described.push(note.id);
        element.setAttribute("aria-describedby", described.join(" ").trim());
      });
    });
    summaryBox([title, lead, list]);
  }

  /* Sending -------------------------------------------------------------------------- */

  function body(form, values, sealed, ticket) {
    var data = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string") data.append(name, value);
    });
    if (values.kind === "slot") {
      data.delete("start");
      data.delete("end");
      if (values.clearInsurance) data.set("insurance", values.clearInsurance);
    } else {
      data.set("start", values.start || "");
      if (values.end) {
        data.set("end", values.end);
      } else {
        data.delete("end");
      }
    }
    data.set("sealed", sealed);
    data.set("key_id", ticket.key_id);
    data.set("ticket", ticket.ticket);
    return data;
  }

  /* The relay's answer page in place of this one; what only this page knew (the sealed
     fields) is put back where the answer shows the form again. */
  function show(html, controls, again) {
    var kept = {};
    Object.keys(controls).forEach(function (name) {
      controls[name].forEach(function (element) {
        kept[element.id] = element.type === "radio" || element.type === "checkbox" ?
          element.checked : element.value;
      });
    });
    var page = new DOMParser().parseFromString(html, "text/html");
    document.title = page.title;
    document.body.replaceWith(document.adoptNode(page.body));
    Object.keys(kept).forEach(function (id) {
      var element = document.getElementById(id);
      if (!element) return;
      if (element.type === "radio" || element.type === "checkbox") {
        element.checked = kept[id];
      } else {
        element.value = kept[id];
      }
    });
    window.scrollTo(0, 0);
    var solver = page.querySelector("script[src*='/pow.js']");
    if (document.getElementById("pow") && solver) {
      // The answer asks for a proof of work: start its solver, loading it first (with the
      // hash the answer names) if this page had none.
      if (window.TerminrelayPow) {
        window.TerminrelayPow.start();
      } else {
        var script = document.createElement("script");
        script.src = solver.src;
        script.integrity = solver.integrity;
        document.head.append(script);
      }
    }
    again();
  }

  function showFailure(config) {
    var text = document.createElement("p");
    text.textContent = config.texts.sealing_failed;
    summaryBox([text]);
  }

  function start(again) {
    var form = document.querySelector("form.booking");
    var config = configOf(form);
    if (!config) return;
    var ready = canSeal();
    if (!ready) {
      if (config.required) {
        var notice = document.getElementById("sealing-required");
        if (notice) notice.hidden = false;
        form.querySelectorAll("button[type='submit']").forEach(function (button) {
          if (button.name !== "nav") button.disabled = true;
        });
      }
      return;
    }
    var controls = sealedControls(form);
    var status = document.getElementById("sealing-status");
    if (!rulesPromise) {
      rulesPromise = fetch(config.rules_url, { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) throw new Error("rules " + r.status);
        return r.json();
      });
    }
    var sending = false;

    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (submitter && submitter.name === "nav") return;
      var pow = document.getElementById("pow");
      // Until the proof of work is solved, pow.js holds the post and sends it after.
      if (pow && pow.getAttribute("data-state") !== "solved") return;
      event.preventDefault();
      if (sending) return;
      sending = true;
      clearErrors(form);
      if (status) status.textContent = config.texts.sending;
      rulesPromise
        .then(function (rules) {
          var found = inspect(controls, form, config, rules);
          if (Object.keys(found.errors).length) {
            showErrors(found.errors, controls, config);
            return null;
          }
          return fetch(config.ticket_url, { method: "POST", credentials: "same-origin" })
            .then(function (response) {
              if (!response.ok) throw new Error("ticket " + response.status);
              return response.json();
            })
            .then(function (ticket) {
              // The page's key, never one an answer names: the practice client checks
              // the page's. A rotated key makes the relay refuse; the patient reloads.
              var values = found.values;
              var emailField = form.querySelector("[name='email']");
              var inner = {
                id: ticket.booking_id,
                practice: config.practice,
                kind: values.kind,
                slot: values.slot,
                language: config.language,
                first_name: values.first_name,
                last_name: values.last_name,
                birth_date: values.birth_date,
                gender: values.gender,
                insurance: values.insurance,
                note: values.note,
                new_patient: values.new_patient,
                doctor: values.doctor,
                appointment_type: values.appointment_type,
                start: values.start,
                end: values.end,
                email: emailField ? emailField.value.trim() : "",
                phone: values.phone,
                consent: true,
                // Its own consent; only the practice learns it (docs/protocol.md).
                reminder: values.reminder === true,
              };
              var sealed = window.TerminrelaySeal.sealDocument(config.public_key, inner);
              var sent = body(form, values, sealed, { key_id: config.key_id, ticket: ticket.ticket });
              return fetch(form.action, {
                method: "POST",
                credentials: "same-origin",
                body: sent,
                headers: { Accept: "text/html" },
              });
            })
            .then(function (response) {
              return response.text();
            })
            .then(function (html) {
              show(html, controls, again);
            });
        })
        .catch(function () {
          // Nothing was sent, or the answer did not come: the form stays as it is.
          if (status) status.textContent = "";
          showFailure(config);
        })
        .finally(function () {
          sending = false;
        });
    });
  }

  window.TerminrelaySealing = { start: start };
})();
