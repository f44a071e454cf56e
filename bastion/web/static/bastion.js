// Bastion's only hand-written script: dialogs, select-all and menus. Everything else is htmx or plain HTML.
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
})();
