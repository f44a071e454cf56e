// Bastion's only hand-written script: dialogs, select-all, menus, and copying a saved password. Everything else is htmx or plain HTML.
(function () {
  "use strict";

  function dialog() { return document.getElementById("dialog"); }

  // A fragment swapped into <dialog id="dialog"> opens it as a modal: focus moves inside,
  // Tab stays inside, Escape closes it (the browser does all three for showModal()).
  document.addEventListener("htmx:afterSwap", function (event) {
    var d = dialog();
    if (d && event.detail.target === d) {
      if (!d.open) { d.showModal(); }
      var first = d.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button");
      if (first) { first.focus(); }
    }
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close-dialog]");
    var d = dialog();
    if (close && d && d.contains(close)) {
      event.preventDefault();
      d.close();
    }
  });

  // Clicking the backdrop closes the dialog as well.
  document.addEventListener("click", function (event) {
    var d = dialog();
    if (d && event.target === d) { d.close(); }
  });

  document.addEventListener("close", function (event) {
    if (event.target === dialog()) { event.target.innerHTML = ""; }
  }, true);

  // "Select all" checkboxes in tables with bulk actions.
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (all) {
      var form = document.getElementById(all.getAttribute("data-select-all"));
      form.querySelectorAll("input[name=account_id], input[name=item_id]").forEach(function (box) {
        box.checked = all.checked;
      });
    }
    var bar = document.querySelector("[data-bulk-count]");
    if (bar) {
      var count = document.querySelectorAll("#bulk-form input[name=account_id]:checked").length;
      bar.textContent = count ? count + " selected" : "";
    }
  });

  // A click anywhere else closes an open menu (a <details class="menu">).
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) { menu.removeAttribute("open"); }
    });
  });

  // The server closes the dialog after a successful action by sending HX-Trigger: closeDialog.
  document.addEventListener("closeDialog", function () {
    var d = dialog();
    if (d && d.open) { d.close(); }
  });

  // Saved logins (bastion/web/credentials.py). Copy password asks the server for the password
  // only when clicked (a POST with the CSRF token: the page never holds it) and puts it on the
  // clipboard; a stale sign-in sends the browser to sign in again.
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || ""; }
    catch (e) { return ""; }
  }

  function askForPassword(button) {
    var body = new URLSearchParams();
    body.set("which", button.getAttribute("data-which") || "current");
    return fetch(button.getAttribute("data-copy-password"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrftoken": csrfToken(), "Accept": "application/json" },
      body: body
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok || typeof answer.password !== "string") { throw answer; }
        return answer.password;
      });
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-password]");
    if (!button) { return; }
    event.preventDefault();
    var scope = button.closest(".dialog-body, .card") || document;
    var status = scope.querySelector("[data-copy-status]");
    function say(text) { if (status) { status.textContent = text; } }
    var password = askForPassword(button);
    var copied;
    // A ClipboardItem holding the promise keeps the click's permission while the answer comes
    // (Safari needs that); elsewhere the text is written once it is there.
    if (window.ClipboardItem && navigator.clipboard && navigator.clipboard.write) {
      copied = navigator.clipboard.write([new window.ClipboardItem({
        "text/plain": password.then(function (text) { return new Blob([text], { type: "text/plain" }); })
      })]);
    } else if (navigator.clipboard && navigator.clipboard.writeText) {
      copied = password.then(function (text) { return navigator.clipboard.writeText(text); });
    } else {
      copied = Promise.reject(new Error("no clipboard"));
    }
    copied.then(function () {
      say("Copied. Paste it into Facebook's password field.");
    }, function () {
      password.then(function () {
        say("Your browser did not let Bastion copy. Allow clipboard access and try again.");
      }, function (answer) {
        if (answer && answer.sign_in_url) { window.location.assign(answer.sign_in_url); return; }
        say((answer && answer.error && answer.error.message) || "The password could not be fetched.");
      });
    });
  });

  // A one-time code counts down to the end of its step; then "New code" asks for the next one.
  window.setInterval(function () {
    document.querySelectorAll("[data-countdown]").forEach(function (counter) {
      var left = parseInt(counter.getAttribute("data-countdown"), 10) - 1;
      if (isNaN(left)) { return; }
      counter.setAttribute("data-countdown", String(Math.max(left, 0)));
      counter.textContent = String(Math.max(left, 0));
      if (left <= 0) {
        var box = counter.closest("dd") || document;
        var code = box.querySelector("[data-otp-code]");
        var again = box.querySelector("[data-otp-refresh]");
        if (code) { code.classList.add("expired"); }
        if (again) { again.hidden = false; }
        counter.removeAttribute("data-countdown");
      }
    });
  }, 1000);
})();
