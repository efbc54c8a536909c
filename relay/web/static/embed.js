/* Terminrelay embed mode: the booking form on the practice's own website (docs/embedding.md).

   The practice's page holds

     <div data-terminrelay-relay="https://relay.example" data-terminrelay-practice="slug"
          data-lang="de" data-terminrelay-public-key="<the practice's key, base64>">
       <a href="https://relay.example/p/slug">Termin online anfragen</a>
     </div>
     <script src="https://relay.example/static/seal.js" integrity="sha384-…"
             crossorigin="anonymous"></script>
     <script src="https://relay.example/static/embed.js" integrity="sha384-…"
             crossorigin="anonymous"></script>

   and this script replaces the link with the form. It fetches the practice's profile, the
   field rules (/static/booking-rules.json) and the form's words (form-texts) from the relay
   by CORS, checks what the patient typed with those rules, seals it in the browser with
   seal.js (docs/protocol.md, "Sealed in the browser") and posts only the sealed blob, the
   e-mail address, consent and the time to the relay. Where anything needed is missing
   (seal.js fails its self-test, the relay cannot be reached, the practice takes no
   browser-sealed requests) the link stays, or a link to the relay's own form is shown.

   Every word the patient reads comes from the relay (form-texts, from its catalogs) or
   from the practice's page (the link in the box, in the practice's own words): this
   script holds no texts and no list of languages. It asks the relay in data-lang (or
   the page's <html lang>), and the relay answers in that language or its default.

   Optional attributes: data-terminrelay-public-key pins the practice's key (nothing is
   sealed to another one: an operator serving another key to chosen patients is caught);
   data-heading-level (2 to 5, default 2) sets the level of the form's heading.

   Every node is built with createElement and textContent: nothing from the relay or the
   patient is parsed as HTML, and nothing is evaluated. */
(function () {
  "use strict";

  var SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
  /* A language tag as Accept-Language may carry it (a CORS-safelisted value). */
  var LANGUAGE_TAG = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$/;
  var POW_HEADER = "X-Terminrelay-Pow";
  var WISH = "wish";
  /* relay/rules/text.py: which forbidden character is which problem. */
  var LINE_BREAKS = "\n\r\u000b\u000c\u001c\u001d\u001e\u0085\u2028\u2029";
  var BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c";
  var VISUALLY_HIDDEN = {
    position: "absolute", width: "1px", height: "1px", margin: "-1px", padding: "0",
    overflow: "hidden", clip: "rect(0 0 0 0)", whiteSpace: "nowrap", border: "0"
  };
  var boxes = 0;

  /* DOM ----------------------------------------------------------------------------- */

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function hiddenText(text) {
    var span = el("span", { text: text });
    Object.assign(span.style, VISUALLY_HIDDEN);
    return span;
  }

  /* `{name}` placeholders filled by plain replacement, as relay/web/i18n.py page_text. */
  function fill(text, values) {
    Object.keys(values).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  }

  /* HTTP ---------------------------------------------------------------------------- */

  function getJson(url, lang) {
    return fetch(url, {
      mode: "cors",
      credentials: "omit",
      headers: { Accept: "application/json", "Accept-Language": lang }
    }).then(function (response) {
      if (!response.ok) throw new Error("GET " + url + ": " + response.status);
      return response.json();
    });
  }

  /* {status, data, retryAfter}; status 0 when the request failed on the way. */
  function postJson(url, body, lang, proof) {
    var headers = { "Content-Type": "application/json", "Accept-Language": lang };
    if (proof) headers[POW_HEADER] = proof;
    return fetch(url, {
      method: "POST",
      mode: "cors",
      credentials: "omit",
      headers: headers,
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data, retryAfter: response.headers.get("Retry-After") };
      });
    }, function () {
      return { status: 0, data: {}, retryAfter: null };
    });
  }

  /* Crypto helpers ------------------------------------------------------------------ */

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (byte) {
      return byte.toString(16).padStart(2, "0");
    }).join("");
  }

  function sha256(text) {
    return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  }

  function sameKey(a, b) {
    try {
      return atob(String(a).trim()) === atob(String(b).trim());
    } catch (error) {
      return false;
    }
  }

  /* A published slot as the relay's form names it (docs/protocol.md, "The submission"):
     its start exactly as the profile lists it, "|", its doctor (empty for none). */
  function slotValue(slot) {
    return slot.start + "|" + (slot.doctor || "");
  }

  /* The ALTCHA challenge (docs/protocol.md, "Proof of work"): the n in 0..maxnumber with
     hex SHA-256(salt + n) = challenge, searched in batches of digests. */
  function solve(challenge) {
    if (challenge.algorithm !== "SHA-256" || !/^[0-9a-f]{64}$/.test(challenge.challenge)) {
      return Promise.resolve(null);
    }
    var target = challenge.challenge;
    var encoder = new TextEncoder();
    var batch = 2000;
    function from(first) {
      if (first > challenge.maxnumber) return Promise.resolve(null);
      var last = Math.min(first + batch - 1, challenge.maxnumber);
      var digests = [];
      for (var n = first; n <= last; n++) {
        digests.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n)));
      }
      return Promise.all(digests).then(function (found) {
        for (var i = 0; i < found.length; i++) {
          if (hex(found[i]) === target) return first + i;
        }
        return from(last + 1);
      });
    }
    return from(0);
  }

  function proofHeader(challenge, number) {
    return btoa(JSON.stringify({
      algorithm: challenge.algorithm,
      challenge: challenge.challenge,
      number: number,
      salt: challenge.salt,
      signature: challenge.signature
    }));
  }

  /* Time in the practice's zone ----------------------------------------------------- */

  function zoneParts(instant, zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit"
    }).formatToParts(new Date(instant)).forEach(function (part) {
      parts[part.type] = part.value;
    });
    return parts;
  }

  /* Minutes the zone is ahead of UTC at `instant`. */
  function zoneOffset(instant, zone) {
    var p = zoneParts(instant, zone);
    var wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
    return Math.round((wall - Math.floor(instant / 1000) * 1000) / 60000);
  }

  function two(number) {
    return String(number).padStart(2, "0");
  }

  /* An instant as ISO 8601 with the zone's offset then: "2026-12-08T09:00:00+01:00". */
  function zonedIso(instant, zone) {
    var p = zoneParts(instant, zone);
    var offset = zoneOffset(instant, zone);
    var sign = offset < 0 ? "-" : "+";
    var size = Math.abs(offset);
    return p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute + ":" +
      p.second + sign + two(Math.floor(size / 60)) + ":" + two(size % 60);
  }

  /* A datetime-local value ("2026-12-08T09:00") read as wall time in `zone`: the instant. */
  function wallTime(value, zone) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value || "");
    if (!m) return null;
    var wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    if (isNaN(wall)) return null;
    var instant = wall - zoneOffset(wall, zone) * 60000;
    /* Near a change of offset the first guess used the other side's offset. */
    return wall - zoneOffset(instant, zone) * 60000;
  }

  function localDate(instant, zone) {
    var p = zoneParts(instant, zone);
    return p.year + "-" + p.month + "-" + p.day;
  }

  /* Checks by booking-rules.json -------------------------------------------------------- */

  function inRanges(codePoint, ranges) {
    for (var i = 0; i < ranges.length; i++) {
      if (codePoint >= ranges[i][0] && codePoint <= ranges[i][1]) return true;
    }
    return false;
  }

  function textProblem(text, rules, multiline) {
    var ranges = multiline ? rules.text.forbidden_multiline : rules.text.forbidden;
    var chars = Array.from(text);
    for (var i = 0; i < chars.length; i++) {
      var codePoint = chars[i].codePointAt(0);
      if (!inRanges(codePoint, ranges)) continue;
      if (LINE_BREAKS.indexOf(chars[i]) >= 0) return multiline ? "control_character" : "line_break";
      if (BIDI_CONTROLS.indexOf(chars[i]) >= 0) return "bidi_control";
      if (codePoint >= 0xd800 && codePoint <= 0xdfff) return "invalid";
      return "control_character";
    }
    return null;
  }

  function normaliseNewlines(text) {
    return text.replace(/\r\n|\r|\u0085|\u2028|\u2029/g, "\n");
  }

  /* [value or null, error code or null] of a text field, as relay/rules/values.py
     clean_text: the bound counts what was typed, then the value is stripped. */
  function checkText(raw, rule, rules) {
    var multiline = Boolean(rule.multiline);
    var text = multiline ? normaliseNewlines(raw) : raw;
    if (rule.max_length && Array.from(text).length > rule.max_length) return [null, "too_long"];
    text = text.trim();
    if (!text) return [null, rule.required ? "required" : null];
    return [text, textProblem(text, rules, multiline)];
  }

  function checkEmail(raw, rules) {
    if (Array.from(raw).length > rules.email.max_length) return [null, "too_long"];
    var address = raw.trim();
    if (!address) return [null, "required"];
    var pattern = new RegExp("^(?:" + rules.email.pattern + ")$");
    var local = address.slice(0, address.lastIndexOf("@"));
    if (!pattern.test(address) || local.length > rules.email.max_local_part) {
      return [null, "invalid_email"];
    }
    return [address, null];
  }

  function checkPhone(raw, rule, rules) {
    var checked = checkText(raw, rule, rules);
    if (checked[0] === null || checked[1]) return checked;
    var digits = checked[0].replace(/[^0-9]/g, "").length;
    var pattern = new RegExp("^(?:" + rules.phone.pattern + ")$");
    if (!pattern.test(checked[0]) || digits < rules.phone.min_digits || digits > rules.phone.max_digits) {
      return [null, "invalid_phone"];
    }
    return checked;
  }

  /* "1980-04-23", or "23.04.1980" where a browser shows a plain text box. */
  function checkBirthDate(raw, rules, today) {
    var text = raw.trim();
    if (!text) return [null, "required"];
    var german = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(text);
    if (german) text = german[3] + "-" + two(german[2]) + "-" + two(german[1]);
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (!m) return [null, "invalid_date"];
    var born = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
    if (born.getUTCFullYear() !== +m[1] || born.getUTCMonth() !== +m[2] - 1 || born.getUTCDate() !== +m[3]) {
      return [null, "invalid_date"];
    }
    if (text >= today) return [null, "not_in_past"];
    var t = today.split("-").map(Number);
    var age = t[0] - +m[1] - ((t[1] < +m[2] || (t[1] === +m[2] && t[2] < +m[3])) ? 1 : 0);
    if (age > rules.birth_date.max_age_years) return [null, "too_old"];
    return [text, null];
  }

  /* The form --------------------------------------------------------------------------- */

  function EmbeddedForm(box, setup) {
    this.box = box;
    this.relay = setup.relay;
    this.slug = setup.slug;
    this.lang = setup.lang;
    this.original = setup.original;
    this.profile = setup.profile;
    this.rules = setup.rules;
    this.words = worded(setup.words, setup.profile);
    this.pinnedKey = setup.pinnedKey;
    this.level = setup.level;
    this.prefix = "terminrelay-" + (++boxes) + "-";
    this.controls = {};
    this.sending = false;
    var locale = this.words.locale || this.lang;
    var zone = this.profile.time_zone;
    this.dayFormat = new Intl.DateTimeFormat(locale, {
      timeZone: zone, weekday: "long", day: "numeric", month: "long", year: "numeric"
    });
    this.clockFormat = new Intl.DateTimeFormat(locale, {
      timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    });
    this.momentFormat = new Intl.DateTimeFormat(locale, {
      timeZone: zone, weekday: "long", day: "numeric", month: "long", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23"
    });
  }

  var form = EmbeddedForm.prototype;

  /* The words as this practice's profile has them (relay/web/form.py does the same): on the
     contract, the default legal basis, the consent box acknowledges the privacy notice;
     the reminder box's hint says when the practice sends reminders. */
  function worded(words, profile) {
    var texts = words.texts;
    var fields = Object.assign({}, words.fields);
    if (profile.legal_basis !== "consent") {
      fields.consent = Object.assign({}, fields.consent, {
        label: texts.acknowledgement_label,
        summary_label: texts.privacy_title,
        errors: { must_accept: texts.acknowledge_required }
      });
    }
    var days = profile.reminder_days || [];
    if (days.length && fields.reminder) {
      var when = days.length === 1
        ? fill(texts.reminder_one, { days: words.days[days[0]] })
        : fill(texts.reminder_two, { first: words.days[days[0]], second: words.days[days[1]] });
      var hint = [when, texts.reminder_off];
      if (profile.accept_wishes) hint.push(texts.reminder_wish);
      fields.reminder = Object.assign({}, fields.reminder, { hint: hint.join(" ") });
    }
    return Object.assign({}, words, { fields: fields });
  }

  form.t = function (key, values) {
    var text = this.words.texts[key];
    if (text === undefined) throw new Error("form-texts lacks " + key);
    return values ? fill(text, values) : text;
  };

  form.id = function (name) {
    return this.prefix + name;
  };

  form.heading = function (depth, attributes) {
    return el("h" + Math.min(6, this.level + depth), attributes);
  };

  form.field = function (name) {
    return this.words.fields[name] || { label: name };
  };

  /* The message for a field's error code, worded for the field where form-texts words it. */
  form.message = function (name, code) {
    var own = this.field(name).errors || {};
    var rule = this.rules.fields[name] || {};
    var text = own[code] || this.words.errors[code] || this.words.errors.invalid;
    return rule.max_length ? fill(text, { max: rule.max_length }) : text;
  };

  form.marker = function (text) {
    return el("span", { "class": "terminrelay-required", text: " (" + text + ")" });
  };

  form.render = function () {
    var words = this.words;
    var box = this.box;
    box.textContent = "";
    box.lang = words.lang;
    box.dir = words.dir;
    var root = el("div", { "class": "terminrelay" });
    this.root = root;
    root.appendChild(this.heading(0, { "class": "terminrelay-title", text: this.t("form_title") }));
    root.appendChild(el("p", { "class": "terminrelay-lead", text: this.t("form_lead", { practice: this.profile.name }) }));
    var slots = this.profile.slots || [];
    if (!slots.length && !this.profile.accept_wishes) {
      root.appendChild(el("p", { "class": "terminrelay-closed", text: this.t("embed_closed") }));
      box.appendChild(root);
      box.setAttribute("data-terminrelay-state", "closed");
      return;
    }
    var phone = (this.profile.details || {}).phone;
    if (phone) root.appendChild(this.byPhone(phone));
    root.appendChild(el("p", { "class": "terminrelay-note", text: this.t("form_required_note") }));
    this.summary = el("div", {
      "class": "terminrelay-error-summary", role: "alert", tabindex: "-1", hidden: true,
      "aria-labelledby": this.id("summary-title")
    });
    root.appendChild(this.summary);
    var formNode = el("form", { "class": "terminrelay-form", novalidate: true, action: "#" });
    this.form = formNode;
    var self = this;
    this.limitsInsurance = slots.some(function (slot) { return (slot.insurance || []).length > 0; });
    var sections = words.sections;
    if (this.limitsInsurance) {
      // Some times are kept for some insurance types: ask for it first, with the times.
      sections = sections.map(function (section) {
        var names = section.fields.filter(function (name) { return name !== "insurance"; });
        if (section.name === "appointment") names = ["insurance"].concat(names);
        return { name: section.name, title: section.title, fields: names };
      });
    }
    sections.forEach(function (section) {
      var section_node = el("section", {
        "class": "terminrelay-section", "aria-labelledby": self.id("section-" + section.name)
      });
      section_node.appendChild(self.heading(1, { id: self.id("section-" + section.name), text: section.title }));
      var shown = 0;
      section.fields.forEach(function (name) {
        var node = self.control(name);
        if (node) {
          section_node.appendChild(node);
          shown++;
        }
      });
      if (shown) formNode.appendChild(section_node);
    });
    this.status = el("p", { "class": "terminrelay-status", role: "status", "aria-live": "polite" });
    this.button = el("button", { type: "submit", "class": "terminrelay-submit", text: this.t("submit") });
    formNode.appendChild(el("div", { "class": "terminrelay-actions" }, [this.button]));
    formNode.appendChild(this.status);
    formNode.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submit();
    });
    root.appendChild(formNode);
    box.appendChild(root);
    this.refreshSlots();
    box.setAttribute("data-terminrelay-state", "ready");
  };

  /* "You can also book by phone: …", the number a tel: link: the way to book without the
     internet (the Datenschutzkonferenz asks that one exist). */
  form.byPhone = function (phone) {
    var parts = this.t("by_phone").split("{phone}");
    var line = el("p", { "class": "terminrelay-by-phone" });
    line.appendChild(document.createTextNode(parts[0]));
    line.appendChild(el("a", { href: "tel:" + phone.replace(/[^0-9+]/g, ""), dir: "ltr", text: phone }));
    line.appendChild(document.createTextNode(parts.slice(1).join("{phone}")));
    return line;
  };

  /* A field's node, or null where the form shows nothing for it. */
  form.control = function (name) {
    if (name === "reminder" && !((this.profile.reminder_days || []).length && this.hasSlots())) return null;
    if (name === "start") return this.timeControls();
    if (name === "end") return null;  /* a slot's own; a wish's from the type's length */
    if (name === "doctor" || name === "appointment_type") return this.offeredList(name);
    var spec = this.field(name);
    if (spec.control === "radio") return this.radioGroup(name);
    if (spec.control === "checkbox") return this.checkbox(name);
    return this.input(name, spec.control === "textarea");
  };

  /* Label, hint and error of one control; `describe` gets aria-describedby. */
  form.register = function (name, focusTarget, describe, read) {
    var spec = this.field(name);
    var control = {
      name: name,
      focusTarget: focusTarget,
      describe: describe,
      hintId: spec.hint ? this.id("hint-" + name) : null,
      errorId: this.id("error-" + name),
      read: read
    };
    control.hint = spec.hint ? el("p", { "class": "terminrelay-hint", id: control.hintId, text: spec.hint }) : null;
    control.error = el("p", { "class": "terminrelay-error", id: control.errorId, hidden: true });
    if (control.hintId) describe.setAttribute("aria-describedby", control.hintId);
    this.controls[name] = control;
    return control;
  };

  form.labelFor = function (name, target, required) {
    var label = el("label", { "for": target, text: this.field(name).label });
    if (required) label.appendChild(this.marker(this.t("required")));
    else if (name === "note" || name === "phone") label.appendChild(this.marker(this.t("optional")));
    return label;
  };

  form.input = function (name, multiline) {
    var spec = this.field(name);
    var rule = this.rules.fields[name] || {};
    var id = this.id("field-" + name);
    var types = { date: "date", email: "email", tel: "tel" };
    var node = multiline
      ? el("textarea", { id: id, name: name, rows: 5 })
      : el("input", { id: id, name: name, type: types[rule.kind] || "text" });
    node.setAttribute("autocomplete", spec.autocomplete || "off");
    if (rule.max_length) node.setAttribute("maxlength", rule.max_length);
    if (rule.required) node.setAttribute("required", "");
    if (rule.kind === "email") {
      node.setAttribute("spellcheck", "false");
      node.setAttribute("autocapitalize", "none");
    }
    if (rule.kind === "tel") node.setAttribute("inputmode", "tel");
    if (rule.kind === "date") node.setAttribute("max", this.today());
    var control = this.register(name, node, node, function () { return node.value; });
    return el("div", { "class": "terminrelay-field" }, [
      this.labelFor(name, id, rule.required), control.hint, control.error, node
    ]);
  };

  form.radioGroup = function (name) {
    var spec = this.field(name);
    var rule = this.rules.fields[name] || {};
    var group = el("fieldset", { "class": "terminrelay-field terminrelay-group", id: this.id("field-" + name) });
    var legend = el("legend", { text: spec.label });
    if (rule.required) legend.appendChild(this.marker(this.t("required")));
    group.appendChild(legend);
    var inputs = [];
    var choices = el("div", { "class": "terminrelay-choices" });
    var self = this;
    Object.keys(spec.choices || {}).forEach(function (value) {
      var id = self.id(name + "-" + value);
      var input = el("input", { type: "radio", id: id, name: self.prefix + name, value: value, required: rule.required });
      inputs.push(input);
      choices.appendChild(el("div", { "class": "terminrelay-choice" }, [
        input, el("label", { "for": id, text: spec.choices[value] })
      ]));
    });
    var control = this.register(name, inputs[0], group, function () {
      var checked = inputs.filter(function (input) { return input.checked; })[0];
      return checked ? checked.value : "";
    });
    control.inputs = inputs;
    if (name === "insurance" && this.limitsInsurance) {
      control.hintId = this.id("hint-" + name);
      control.hint = el("p", { "class": "terminrelay-hint", id: control.hintId, text: this.t("insurance_filter_hint") });
      group.setAttribute("aria-describedby", control.hintId);
      inputs.forEach(function (input) {
        input.addEventListener("change", function () { self.refreshSlots(); });
      });
    }
    if (control.hint) group.appendChild(control.hint);
    group.appendChild(control.error);
    group.appendChild(choices);
    return group;
  };

  form.checkbox = function (name) {
    var spec = this.field(name);
    var id = this.id("field-" + name);
    var required = name === "consent";
    var input = el("input", { type: "checkbox", id: id, name: name, value: "true", required: required });
    var label = el("label", { "for": id, text: spec.label });
    label.appendChild(this.marker(this.t(required ? "required" : "optional")));
    if (name === "consent") {
      label.appendChild(document.createTextNode(" "));
      label.appendChild(el("a", {
        href: this.relay + "/p/" + encodeURIComponent(this.slug) + "/privacy?lang=" + this.lang,
        target: "_blank",
        rel: "noopener"
      }, [this.t("privacy_title"), " ", el("span", { text: this.t("opens_new_window") })]));
    }
    var control = this.register(name, input, input, function () { return input.checked; });
    return el("div", { "class": "terminrelay-field" }, [
      control.hint, control.error, el("div", { "class": "terminrelay-choice" }, [input, label])
    ]);
  };

  /* Doctor or type: a filter of the free slots and, for a wish, a required choice. */
  form.offeredList = function (name) {
    var offered = name === "doctor"
      ? (this.profile.doctors || []).map(function (doctor) { return [doctor, doctor]; })
      : (this.profile.appointment_types || []).map(function (kind) {
        return [kind.name, kind.name + " (" + this.t("minutes", { minutes: kind.minutes }) + ")"];
      }, this);
    if (!offered.length) return null;
    var id = this.id("field-" + name);
    var filtering = this.hasSlots();
    var select = el("select", { id: id, name: name, required: !filtering });
    var empty = filtering
      ? this.t(name === "doctor" ? "picker_all_doctors" : "picker_all_types")
      : this.t("please_choose");
    select.appendChild(el("option", { value: "", text: empty }));
    offered.forEach(function (pair) {
      select.appendChild(el("option", { value: pair[0], text: pair[1] }));
    });
    var control = this.register(name, select, select, function () { return select.value; });
    var label = el("label", { "for": id, text: this.field(name).label });
    if (!filtering) label.appendChild(this.marker(this.t("required")));
    else if (this.profile.accept_wishes) label.appendChild(this.marker(this.t("required_for_wish")));
    if (filtering && this.profile.accept_wishes && !control.hint) {
      control.hintId = this.id("hint-" + name);
      control.hint = el("p", { "class": "terminrelay-hint", id: control.hintId, text: this.t("picker_filter_hint") });
      select.setAttribute("aria-describedby", control.hintId);
    }
    var self = this;
    select.addEventListener("change", function () { self.refreshSlots(); });
    return el("div", { "class": "terminrelay-field" }, [label, control.hint, control.error, select]);
  };

  form.hasSlots = function () {
    return (this.profile.slots || []).length > 0;
  };

  form.wishChosen = function () {
    return !this.hasSlots() || (this.slotSelect && this.slotSelect.value === WISH);
  };

  form.today = function () {
    return localDate(Date.now(), this.profile.time_zone);
  };

  /* The slot list (grouped by day) and, where the practice takes them, a wished time. */
  form.timeControls = function () {
    var zone = this.profile.time_zone;
    var wrapper = el("div", { "class": "terminrelay-time" });
    var self = this;
    var parts = [];
    if (this.hasSlots()) {
      var id = this.id("field-slot");
      this.slotSelect = el("select", { id: id, name: "slot", required: true });
      var hintId = this.id("hint-slot");
      var label = el("label", { "for": id, text: this.t("slots_legend") });
      label.appendChild(this.marker(this.t("required")));
      parts.push(label, el("p", { "class": "terminrelay-hint", id: hintId, text: this.t("slots_hint", { zone: zone }) }));
      if (this.limitsInsurance) {
        this.insuranceFirst = el("p", { "class": "terminrelay-hint", id: this.id("insurance-first"), text: this.t("insurance_first") });
        parts.push(this.insuranceFirst);
      }
      this.slotSelect.addEventListener("change", function () { self.showWish(); });
    } else {
      parts.push(el("p", { "class": "terminrelay-hint", text: this.t("no_slots") }));
    }
    if (this.profile.accept_wishes) {
      var wishId = this.id("field-start");
      this.wishInput = el("input", {
        id: wishId, name: "start", type: "datetime-local", min: this.wishMin(),
        required: !this.hasSlots()
      });
      var wishHint = this.id("hint-wish");
      var legend = el("legend", { text: this.t("wish_legend") });
      if (!this.hasSlots()) legend.appendChild(this.marker(this.t("required")));
      this.wishBox = el("fieldset", { "class": "terminrelay-wish", id: this.id("wish") }, [
        legend,
        el("p", { "class": "terminrelay-hint", id: wishHint, text: this.t("wish_hint", { zone: zone }) })
      ]);
    }
    var focus = this.slotSelect || this.wishInput;
    var control = this.register("start", focus, focus, function () {
      return self.wishChosen() ? { wish: self.wishInput ? self.wishInput.value : "" } : { slot: self.slotSelect.value };
    });
    control.hint = null;
    if (this.slotSelect) {
      this.slotSelect.setAttribute("aria-describedby", hintId);
      control.hintId = hintId;
      control.slotError = control.error;
      parts.push(control.error, this.slotSelect);
    }
    if (this.wishBox) {
      control.wishError = el("p", { "class": "terminrelay-error", id: this.id("error-wish"), hidden: true });
      this.wishInput.setAttribute("aria-describedby", wishHint);
      this.wishBox.appendChild(el("div", { "class": "terminrelay-field" }, [
        el("label", { "for": this.wishInput.id, text: this.field("start").label }),
        control.wishError,
        this.wishInput
      ]));
      parts.push(this.wishBox);
    }
    parts.forEach(function (part) { wrapper.appendChild(part); });
    return el("div", { "class": "terminrelay-field" }, [wrapper]);
  };

  form.wishMin = function () {
    return zonedIso(Date.now(), this.profile.time_zone).slice(0, 16);
  };

  form.showWish = function () {
    if (this.wishBox) this.wishBox.hidden = !this.wishChosen();
  };

  form.filtered = function () {
    var doctor = this.controls.doctor ? this.controls.doctor.read() : "";
    var kind = this.controls.appointment_type ? this.controls.appointment_type.read() : "";
    var insurance = this.controls.insurance ? this.controls.insurance.read() : "";
    // Where some times are kept for some insurance types, none before it is chosen.
    if (this.limitsInsurance && !insurance) return [];
    return (this.profile.slots || []).filter(function (slot) {
      var kept = slot.insurance || [];
      return (!doctor || !slot.doctor || slot.doctor === doctor) &&
        (!kind || !slot.appointment_type || slot.appointment_type === kind) &&
        (!kept.length || kept.indexOf(insurance) >= 0);
    });
  };

  /* The slot list again (after a filter changed or the slots were fetched anew), keeping
     the chosen slot where it is still listed. */
  form.refreshSlots = function () {
    var select = this.slotSelect;
    if (!select) {
      this.showWish();
      return;
    }
    var chosen = select.value;
    var chosenSlot = this.slotByValue(chosen);
    select.textContent = "";
    this.slotValues = {};
    select.appendChild(el("option", { value: "", text: this.t("please_choose") }));
    var groups = {};
    var self = this;
    this.filtered().forEach(function (slot, index) {
      var start = new Date(slot.start);
      var day = localDate(start.getTime(), self.profile.time_zone);
      if (!groups[day]) {
        groups[day] = el("optgroup", { label: self.dayFormat.format(start) });
        select.appendChild(groups[day]);
      }
      var text = self.t("time_span", {
        start: self.clockFormat.format(start), end: self.clockFormat.format(new Date(slot.end))
      });
      if (slot.doctor) text += " · " + self.t("slot_with", { doctor: slot.doctor });
      if (slot.appointment_type) text += " · " + slot.appointment_type;
      var value = "s" + index;
      self.slotValues[value] = slot;
      groups[day].appendChild(el("option", { value: value, text: text }));
    });
    if (this.profile.accept_wishes) {
      select.appendChild(el("option", { value: WISH, text: this.t("wish_option") }));
    }
    var keep = chosen === WISH ? WISH : this.valueOf(chosenSlot);
    select.value = keep || "";
    if (this.insuranceFirst) {
      this.insuranceFirst.hidden = !!(this.controls.insurance && this.controls.insurance.read());
    }
    this.showWish();
  };

  form.slotByValue = function (value) {
    return (this.slotValues || {})[value] || null;
  };

  form.valueOf = function (slot) {
    if (!slot) return "";
    var values = this.slotValues || {};
    return Object.keys(values).filter(function (value) {
      return values[value].start === slot.start && values[value].doctor === slot.doctor;
    })[0] || "";
  };

  /* Checking ---------------------------------------------------------------------------- */

  /* {values, errors}: what the patient typed, checked by booking-rules.json. */
  form.check = function () {
    var rules = this.rules;
    var errors = {};
    var values = {};
    var self = this;
    var today = this.today();
    Object.keys(this.controls).forEach(function (name) {
      var control = self.controls[name];
      var raw = control.read();
      var rule = rules.fields[name] || {};
      var checked;
      if (name === "start") {
        checked = self.checkTime(raw);
      } else if (name === "doctor" || name === "appointment_type") {
        checked = [raw || null, null];
        if (!raw && self.wishChosen()) {
          checked[1] = "wish_required";
        }
      } else if (rule.kind === "email") {
        checked = checkEmail(raw, rules);
      } else if (rule.kind === "tel") {
        checked = checkPhone(raw, rule, rules);
      } else if (rule.kind === "date") {
        checked = checkBirthDate(raw, rules, today);
      } else if (name === "consent") {
        checked = raw ? [true, null] : [null, "must_accept"];
      } else if (name === "reminder") {
        checked = [raw === true, null];
      } else if (rule.kind === "bool") {
        checked = raw ? [raw === "true", null] : [null, "required"];
      } else if (rule.kind === "choice") {
        checked = raw ? [raw, (rule.choices || []).indexOf(raw) >= 0 ? null : "invalid_choice"] : [null, "required"];
      } else {
        checked = checkText(raw, rule, rules);
      }
      if (checked[1]) errors[name] = self.errorText(name, checked[1]);
      else values[name] = checked[0];
    });
    return { values: values, errors: errors };
  };

  /* [{slot} or {wish: {start, end}}, error code]. */
  form.checkTime = function (raw) {
    if (raw.slot !== undefined) {
      var slot = this.slotByValue(raw.slot);
      return slot ? [{ slot: slot }, null] : [null, "choose_slot"];
    }
    if (!raw.wish) return [null, "wish_start_required"];
    var zone = this.profile.time_zone;
    var instant = wallTime(raw.wish, zone);
    if (instant === null) return [null, "invalid_datetime"];
    var now = Date.now();
    if (instant <= now) return [null, "not_in_future"];
    if (instant - now > this.rules.wish.max_ahead_days * 86400000) return [null, "too_far_ahead"];
    return [{ wish: instant }, null];
  };

  /* Messages that name the control the patient used, as relay/web/form.py words them. */
  form.errorText = function (name, code) {
    if (name === "start" && code === "choose_slot") {
      return this.t(this.profile.accept_wishes ? "choose_slot_or_wish" : "choose_slot");
    }
    if (name === "start" && code === "wish_start_required") return this.t("wish_start_required");
    if (code === "wish_required") {
      return this.t(name === "doctor" ? "wish_doctor_required" : "wish_type_required");
    }
    return this.message(name === "start" ? "start" : name, code);
  };

  /* Errors: beside each control and in the summary, whose links move the focus there. */
  form.showErrors = function (errors, title, lead) {
    var self = this;
    Object.keys(this.controls).forEach(function (name) {
      self.markError(self.controls[name], errors[name]);
    });
    var summary = this.summary;
    summary.textContent = "";
    summary.appendChild(this.heading(1, { id: this.id("summary-title"), text: title || this.t("error_summary_title") }));
    summary.appendChild(el("p", { text: lead || this.t("error_summary_lead") }));
    var list = el("ul");
    var order = Object.keys(this.controls);
    Object.keys(errors).sort(function (a, b) {
      var left = order.indexOf(a), right = order.indexOf(b);
      return (left < 0 ? order.length : left) - (right < 0 ? order.length : right);
    }).forEach(function (name) {
      var control = self.controls[name];
      var text = self.summaryLabel(name) + ": " + errors[name];
      if (!control) {
        list.appendChild(el("li", { text: text }));
        return;
      }
      var target = self.errorTarget(control);
      var link = el("a", { href: "#" + target.id, text: text });
      link.addEventListener("click", function (event) {
        event.preventDefault();
        target.focus();
        target.scrollIntoView({ block: "center" });
      });
      list.appendChild(el("li", {}, [link]));
    });
    if (list.childNodes.length) summary.appendChild(list);
    summary.hidden = false;
    summary.focus();
  };

  form.errorTarget = function (control) {
    if (control.name === "start" && this.wishChosen() && this.wishInput) return this.wishInput;
    return control.focusTarget;
  };

  form.summaryLabel = function (name) {
    if (name === "start") return this.t(this.wishChosen() ? "summary_label_wish" : "summary_label_slot");
    var spec = this.words.fields[name];
    if (!spec) return this.t("error_title_prefix");
    return spec.summary_label || spec.label;
  };

  form.markError = function (control, message) {
    var error = control.error;
    var describe = control.describe;
    if (control.name === "start") {
      var wish = this.wishChosen() && control.wishError;
      if (control.slotError) this.setError(control.slotError, this.slotSelect, control.hintId, wish ? null : message);
      if (control.wishError) this.setError(control.wishError, this.wishInput, this.id("hint-wish"), wish ? message : null);
      return;
    }
    this.setError(error, describe, control.hintId, message);
    (control.inputs || []).forEach(function (input) {
      if (message) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    });
  };

  form.setError = function (error, describe, hintId, message) {
    error.textContent = "";
    if (message) {
      error.appendChild(hiddenText(this.t("error_title_prefix") + ": "));
      error.appendChild(document.createTextNode(message));
    }
    error.hidden = !message;
    var ids = [hintId, message ? error.id : null].filter(Boolean).join(" ");
    if (ids) describe.setAttribute("aria-describedby", ids);
    else describe.removeAttribute("aria-describedby");
    if (describe.tagName !== "FIELDSET") {
      if (message) describe.setAttribute("aria-invalid", "true");
      else describe.removeAttribute("aria-invalid");
    }
  };

  form.clearErrors = function () {
    var self = this;
    Object.keys(this.controls).forEach(function (name) { self.markError(self.controls[name], null); });
    this.summary.hidden = true;
    this.summary.textContent = "";
  };

  /* Sending ----------------------------------------------------------------------------- */

  form.say = function (text) {
    this.status.textContent = text;
  };

  form.submit = function () {
    if (this.sending) return;
    var checked = this.check();
    if (Object.keys(checked.errors).length) {
      this.showErrors(checked.errors);
      return;
    }
    this.clearErrors();
    this.sending = true;
    this.button.disabled = true;
    this.box.setAttribute("data-terminrelay-state", "sending");
    this.say(this.t("embed_sending"));
    var self = this;
    this.send(checked.values, null, 0).catch(function () {
      return { status: 0, data: {} };
    }).then(function (answer) {
      self.sending = false;
      self.button.disabled = false;
      self.answered(answer);
    });
  };

  form.api = function (path) {
    return this.relay + "/api/v1/practices/" + encodeURIComponent(this.slug) + path;
  };

  /* Ticket, seal, post; once more with a proof of work when the relay asks for one. */
  form.send = function (values, proof, attempt) {
    var self = this;
    return postJson(this.api("/tickets"), {}, this.lang).then(function (ticket) {
      if (ticket.status !== 201) return ticket;
      return self.sealed(values, ticket.data).then(function (sealed) {
        if (sealed.refused) return sealed;
        return postJson(self.api("/bookings"), sealed.body, self.lang, proof);
      });
    }).then(function (answer) {
      if (answer.status !== 429 || !answer.data.challenge_url || attempt > 0) return answer;
      return self.proofOfWork(answer.data.challenge_url).then(function (solved) {
        if (solved === null) return { status: 429, data: {}, pow: "failed" };
        return self.send(values, solved, attempt + 1);
      });
    });
  };

  form.proofOfWork = function (challengeUrl) {
    var url = new URL(challengeUrl, this.relay);
    if (url.origin !== this.relay) return Promise.resolve(null);
    this.say(this.t("embed_pow_running"));
    return getJson(url.href, this.lang).then(function (challenge) {
      return solve(challenge).then(function (number) {
        return number === null ? null : proofHeader(challenge, number);
      });
    }, function () { return null; });
  };

  /* The inner document sealed to the ticket's key, and the submission around it; or
     {refused} when the key is not the one pinned on this page. */
  form.sealed = function (values, ticket) {
    var seal = window.TerminrelaySeal;
    var self = this;
    if (this.pinnedKey && !sameKey(this.pinnedKey, ticket.public_key)) {
      return Promise.resolve({ refused: true, status: "key" });
    }
    return Promise.resolve(seal.keyId(ticket.public_key)).then(function (keyId) {
      if (keyId !== ticket.key_id) return { refused: true, status: "key" };
      return self.innerDocument(values, ticket.booking_id).then(function (built) {
        return Promise.resolve(seal.sealDocument(ticket.public_key, built.inner)).then(function (blob) {
          var body = { sealed: blob, key_id: ticket.key_id, ticket: ticket.ticket, email: values.email, consent: true };
          Object.keys(built.clear).forEach(function (name) { body[name] = built.clear[name]; });
          return { body: body };
        });
      });
    });
  };

  /* docs/protocol.md, "The inner document": every field, plus id, practice, kind, slot,
     language; and what the relay reads beside the blob (slot, or start and end). */
  form.innerDocument = function (values, bookingId) {
    var zone = this.profile.time_zone;
    var time = values.start;
    var doctor = values.doctor || null;
    var kind = values.appointment_type || null;
    var inner = {
      id: bookingId,
      practice: this.slug,
      language: this.lang,
      first_name: values.first_name,
      last_name: values.last_name,
      birth_date: values.birth_date,
      gender: values.gender,
      insurance: values.insurance,
      note: values.note || null,
      new_patient: values.new_patient,
      email: values.email,
      phone: values.phone || null,
      consent: true,
      // Its own consent; the relay never learns it (docs/protocol.md).
      reminder: values.reminder === true
    };
    if (time.slot) {
      var slot = time.slot;
      var value = slotValue(slot);
      inner.kind = "slot";
      inner.slot = value;
      inner.start = slot.start;
      inner.end = slot.end;
      inner.doctor = slot.doctor || doctor;
      inner.appointment_type = slot.appointment_type || kind;
      var slotClear = { slot: value };
      // Kept for some insurance types: the relay checks the insurance against the slot.
      if ((slot.insurance || []).length) slotClear.insurance = values.insurance;
      return Promise.resolve({ inner: inner, clear: slotClear });
    }
    var type = (this.profile.appointment_types || []).filter(function (t) { return t.name === kind; })[0];
    inner.kind = "wish";
    inner.slot = null;
    inner.start = zonedIso(time.wish, zone);
    inner.end = type ? zonedIso(time.wish + type.minutes * 60000, zone) : null;
    inner.doctor = doctor;
    inner.appointment_type = kind;
    var clear = { start: inner.start };
    if (inner.end) clear.end = inner.end;
    return Promise.resolve({ inner: inner, clear: clear });
  };

  form.answered = function (answer) {
    var data = answer.data || {};
    this.say("");
    if (answer.status === 202) {
      this.sent(data);
      return;
    }
    this.box.setAttribute("data-terminrelay-state", "ready");
    if (answer.status === "key") {
      this.refuse(this.t("embed_key_mismatch"));
      return;
    }
    if (answer.status === 403 || answer.status === 404) {
      fallback(this.box, this.relay, this.slug, this.lang, this.words, this.original);
      return;
    }
    if (answer.status === 422 && data.errors) {
      this.showErrors(this.relayErrors(data.errors));
      return;
    }
    if (answer.status === 409) {
      this.slotTaken();
      return;
    }
    if (answer.status === 429) {
      if (answer.pow === "failed") {
        this.showErrors({}, this.t("error_summary_title"), this.t("pow_failed"));
      } else if (data.errors && data.errors.email) {
        this.showErrors({ email: data.errors.email }, this.t("limit_recipient_title"));
      } else {
        var minutes = Math.max(1, Math.ceil((parseInt(answer.retryAfter, 10) || 60) / 60));
        this.showErrors({}, this.t("limit_network_title"), this.t("limit_network_text", { minutes: minutes }));
      }
      return;
    }
    if (answer.status === 503) {
      this.showErrors({}, this.t("error_503_title"), this.t("error_503_text"));
      return;
    }
    this.showErrors({}, this.t("error_summary_title"), this.t("embed_send_failed"));
  };

  /* The relay's messages by field; a slot id or a wish's end are the time's. */
  form.relayErrors = function (errors) {
    var shown = {};
    var self = this;
    Object.keys(errors).forEach(function (name) {
      var target = name === "slot" || name === "end" ? "start" : name;
      if (!self.controls[target] && self.words.fields[target]) target = "";
      if (!shown[target]) shown[target] = String(errors[name]);
    });
    return shown;
  };

  form.slotTaken = function () {
    var self = this;
    getJson(this.api(""), this.lang).then(function (profile) {
      self.profile.slots = profile.slots || [];
    }, function () {}).then(function () {
      self.refreshSlots();
      self.showErrors({ start: self.t("choose_slot") }, self.t("slot_taken_title"), self.t("slot_taken_text"));
    });
  };

  form.refuse = function (text) {
    this.box.setAttribute("data-terminrelay-state", "refused");
    this.root.textContent = "";
    var note = el("p", { "class": "terminrelay-refused", role: "alert", text: text });
    this.root.appendChild(note);
  };

  form.sent = function (data) {
    var root = this.root;
    root.textContent = "";
    var done = el("div", { "class": "terminrelay-sent", tabindex: "-1" });
    done.appendChild(this.heading(0, { text: this.t("sent_title") }));
    if (data.resent) {
      done.appendChild(el("p", { "class": "terminrelay-resent" }, [
        el("strong", { text: this.t("resent_title") }), " ", this.t("resent_text")
      ]));
    }
    var expires = data.expires_at ? this.momentFormat.format(new Date(data.expires_at)) : "";
    done.appendChild(el("p", { text: this.t("embed_sent_lead", { expires: expires }) }));
    done.appendChild(el("p", { text: this.t("sent_not_yet") }));
    done.appendChild(this.heading(1, { text: this.t("sent_next_title") }));
    done.appendChild(el("ol", {}, [
      el("li", { text: this.t("sent_step_1") }),
      el("li", { text: this.t("sent_step_2") }),
      el("li", { text: this.t("sent_step_3") })
    ]));
    root.appendChild(done);
    this.box.setAttribute("data-terminrelay-state", "sent");
    done.focus();
  };

  /* Start ------------------------------------------------------------------------------- */

  /* The relay's form instead: the practice's own content of the box where it had a link
     (its text in the practice's words); else the relay's words for a link made here; and
     with neither, a link that reads as its own address, which needs no language. */
  function fallback(box, relay, slug, lang, words, original) {
    var texts = words && words.texts;
    var link = original.some(function (node) {
      return node.nodeType === 1 && (node.tagName === "A" || node.querySelector("a"));
    });
    box.textContent = "";
    if (link) {
      original.forEach(function (node) { box.appendChild(node); });
    } else {
      var href = relay + "/p/" + encodeURIComponent(slug) + "?lang=" + encodeURIComponent(lang);
      if (texts) box.appendChild(el("p", { text: texts.embed_fallback_text }));
      box.appendChild(el("p", {}, [el("a", {
        "class": "terminrelay-fallback",
        href: href,
        dir: texts ? null : "ltr",
        text: texts ? texts.embed_fallback_link : relay + "/p/" + slug
      })]));
    }
    box.setAttribute("data-terminrelay-state", "fallback");
  }

  function relayOrigin(value) {
    try {
      var url = new URL(value || "");
      return url.protocol === "https:" || url.protocol === "http:" ? url.origin : null;
    } catch (error) {
      return null;
    }
  }

  /* The language the page asks for; which of its languages the relay speaks is the
     relay's to say (form-texts answers with the one it chose). */
  function askedLanguage(box) {
    var asked = (box.getAttribute("data-lang") || document.documentElement.lang || "").trim();
    return LANGUAGE_TAG.test(asked) ? asked.toLowerCase() : "de";
  }

  /* seal.js loaded and working in this browser (its own self-test). */
  function sealWorks() {
    var seal = window.TerminrelaySeal;
    try {
      return Boolean(seal && typeof seal.selfTest === "function" && window.crypto && crypto.subtle) &&
        Promise.resolve(seal.selfTest()).then(function (passed) { return passed === true; }, function () { return false; });
    } catch (error) {
      return false;
    }
  }

  function start(box) {
    var relay = relayOrigin(box.getAttribute("data-terminrelay-relay"));
    var slug = box.getAttribute("data-terminrelay-practice") || "";
    if (!relay || !SLUG.test(slug) || box.hasAttribute("data-terminrelay-state")) return;
    var asked = askedLanguage(box);
    var lang = asked.split("-")[0];
    var original = Array.from(box.childNodes);
    var level = parseInt(box.getAttribute("data-heading-level"), 10);
    var words = null;
    box.setAttribute("data-terminrelay-state", "loading");
    var practiceUrl = relay + "/api/v1/practices/" + encodeURIComponent(slug);
    Promise.resolve(sealWorks()).then(function (works) {
      if (!works) throw new Error("seal.js is missing or failed its self-test");
      return Promise.all([
        getJson(practiceUrl, asked),
        getJson(relay + "/static/booking-rules.json", asked),
        getJson(practiceUrl + "/form-texts", asked)
      ]);
    }).then(function (loaded) {
      words = loaded[2];
      lang = words.lang;
      var profile = loaded[0];
      if (profile.sealing !== "either" && profile.sealing !== "browser") {
        throw new Error("the practice takes no requests sealed in the browser");
      }
      var embedded = new EmbeddedForm(box, {
        relay: relay,
        slug: slug,
        lang: lang,
        original: original,
        profile: profile,
        rules: loaded[1],
        words: words,
        pinnedKey: box.getAttribute("data-terminrelay-public-key"),
        level: level >= 2 && level <= 5 ? level : 2
      });
      embedded.render();
      if (embedded.pinnedKey && !sameKey(embedded.pinnedKey, profile.public_key)) {
        embedded.refuse(embedded.t("embed_key_mismatch"));
      }
    }).catch(function () {
      fallback(box, relay, slug, lang, words, original);
    });
  }

  function startAll() {
    Array.prototype.forEach.call(
      document.querySelectorAll("[data-terminrelay-relay][data-terminrelay-practice]"), start
    );
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startAll);
  } else {
    startAll();
  }
})();
