/* Civic Radar analyst desk: CSRF header on every htmx request, keyboard shortcuts, small
   form helpers. No inline script anywhere (the CSP forbids it); handlers are delegated on the
   document so they survive htmx swapping the body. */
(function () {
  "use strict";

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return null;
  }

  // Double-submit CSRF: the server compares this header with the csrftoken cookie.
  document.addEventListener("htmx:configRequest", function (e) {
    var token = cookie("csrftoken");
    if (token) e.detail.headers["x-csrftoken"] = token;
  });

  function page() {
    var main = document.getElementById("main");
    return main ? main.getAttribute("data-page") : "";
  }

  function typing(el) {
    if (!el || el === document.body) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  // --- help overlay -------------------------------------------------------------------------
  function help(show) {
    var box = document.getElementById("help");
    if (!box) return;
    box.hidden = show === undefined ? !box.hidden : !show;
    if (!box.hidden) {
      var close = box.querySelector("[data-help-close]");
      if (close) close.focus();
    }
  }

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    if (t.closest("[data-help-open]")) { help(true); return; }
    if (t.closest("[data-help-close]") || t.id === "help") { help(false); return; }
    var all = t.closest("[data-check-all]");
    if (all) {
      rows().forEach(function (r) {
        var box = r.querySelector("input[type=checkbox]");
        if (box) box.checked = all.checked;
      });
      countSelected();
    }
  });

  // --- queue --------------------------------------------------------------------------------
  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr[data-lead]"));
  }

  function move(step) {
    var list = rows();
    if (!list.length) return;
    var at = list.findIndex(function (r) { return r.classList.contains("is-current"); });
    var next = at < 0 ? 0 : Math.max(0, Math.min(list.length - 1, at + step));
    if (at >= 0) list[at].classList.remove("is-current");
    list[next].classList.add("is-current");
    list[next].scrollIntoView({ block: "nearest" });
  }

  function current() {
    return document.querySelector("#queue tbody tr.is-current");
  }

  function countSelected() {
    var n = document.querySelectorAll("#queue input[name=ids]:checked").length;
    var out = document.querySelector("[data-selected-count]");
    if (out) out.textContent = String(n);
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    if (t.matches("#queue input[name=ids]")) countSelected();
    if (t.matches("[data-category-select]")) filterItems(t.form);
  });

  // --- lead page ----------------------------------------------------------------------------
  // The item select offers the items of the chosen category only.
  function filterItems(form) {
    if (!form) return;
    var cat = form.querySelector("[data-category-select]");
    var item = form.querySelector("[data-item-select]");
    if (!cat || !item) return;
    var chosen = cat.value;
    Array.prototype.forEach.call(item.querySelectorAll("optgroup"), function (g) {
      var on = !chosen || g.getAttribute("data-category") === chosen;
      g.hidden = !on;
      g.disabled = !on;
    });
    var opt = item.selectedOptions[0];
    if (opt && opt.parentElement && opt.parentElement.tagName === "OPTGROUP" && opt.parentElement.disabled) {
      item.value = "";
    }
  }

  function setup() {
    Array.prototype.forEach.call(document.querySelectorAll("form"), function (f) {
      if (f.querySelector("[data-category-select]")) filterItems(f);
    });
    countSelected();
    var err = document.querySelector(".banner[data-banner]");
    if (err && err.getAttribute("data-banner")) err.scrollIntoView({ block: "nearest" });
  }

  function submit(id) {
    var form = document.getElementById(id);
    if (!form) return false;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
    return true;
  }

  function focus(id) {
    var el = document.getElementById(id);
    if (!el) return false;
    var details = el.closest("details");
    if (details) details.open = true;
    el.scrollIntoView({ block: "center" });
    el.focus();
    return true;
  }

  // --- keys ---------------------------------------------------------------------------------
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    var helpBox = document.getElementById("help");
    if (e.key === "Escape") {
      if (helpBox && !helpBox.hidden) { help(false); e.preventDefault(); }
      else if (typing(document.activeElement)) document.activeElement.blur();
      return;
    }
    if (typing(e.target)) return;
    if (e.key === "?") { help(); e.preventDefault(); return; }
    if (helpBox && !helpBox.hidden) return;
    var where = page(), done = false;
    if (where === "queue") {
      if (e.key === "j") { move(1); done = true; }
      else if (e.key === "k") { move(-1); done = true; }
      else if (e.key === "Enter" || e.key === "o") {
        var row = current();
        var link = row && row.querySelector("a.lead-link");
        if (link) { link.click(); done = true; }
      } else if (e.key === "x") {
        var r = current();
        var box = r && r.querySelector("input[name=ids]");
        if (box) { box.checked = !box.checked; countSelected(); done = true; }
      } else if (e.key === "/") { done = focus("search"); }
    } else if (where === "lead") {
      if (e.key === "c") done = submit("form-claim");
      else if (e.key === "v") done = submit("form-verify");
      else if (e.key === "d") done = submit("form-dispatch");
      else if (e.key === "r") done = focus("reject-reason");
      else if (e.key === "e") done = submit("form-escalate");
      else if (e.key === "n") done = focus("note-text");
      else if (e.key === "m") done = focus("merge-other");
      else if (e.key === "u") {
        var back = document.querySelector("[data-back]");
        if (back) { back.click(); done = true; }
      }
    }
    if (done) e.preventDefault();
  });

  document.addEventListener("htmx:afterSettle", setup);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
