/* The course book's own script (book/_ext/course_book.py adds it to every page; no CDN, no dependencies).
 *
 * 1. Sidebar toggles. pydata-sphinx-theme 0.17 and sphinx-book-theme 1.3 bind their click handlers to the FIRST
 *    `.primary-toggle` / `.secondary-toggle` of the page (pydata-sphinx-theme #2451). When the theme's header bar is
 *    drawn, that first button is the header's, which the book theme hides, and the visible buttons do nothing: no
 *    table of contents on a phone, no collapsing hamburger on a desktop. Every other toggle forwards its click to
 *    the first one, which holds both themes' handlers (modal drawer below 992 px, collapse above).
 * 2. Figures. Every picture of the page's content opens full size in a dialog (click, Enter or Space; Escape,
 *    a click or the close button closes it): wide lab figures can be read on a phone.
 * 3. Wide tables (the proof index, reference tables) scroll inside their own box instead of the whole page.
 */
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // 1. ---------------------------------------------------------------------------------------------------------
  function forwardToggles(selector) {
    var buttons = document.querySelectorAll(selector);
    if (buttons.length < 2) return;
    var first = buttons[0];
    Array.prototype.slice.call(buttons, 1).forEach(function (button) {
      button.addEventListener("click", function (event) {
        event.preventDefault();
        event.stopImmediatePropagation();
        button.blur();
        first.click();
      }, true);
    });
  }

  // 2. ---------------------------------------------------------------------------------------------------------
  var dialog = null;

  function lightbox() {
    if (dialog) return dialog;
    dialog = document.createElement("dialog");
    dialog.className = "course-lightbox";
    dialog.setAttribute("aria-label", "Enlarged figure");
    var close = document.createElement("button");
    close.type = "button";
    close.className = "course-lightbox-close";
    close.setAttribute("aria-label", "Close");
    close.textContent = "\u00d7";
    var img = document.createElement("img");
    var caption = document.createElement("p");
    caption.className = "course-lightbox-caption";
    dialog.appendChild(close);
    dialog.appendChild(img);
    dialog.appendChild(caption);
    dialog.addEventListener("click", function () { dialog.close(); });
    document.body.appendChild(dialog);
    return dialog;
  }

  function enlarge(source) {
    var box = lightbox();
    var img = box.querySelector("img");
    img.src = source.currentSrc || source.src;
    img.alt = source.alt || "";
    var figcaption = source.closest("figure") && source.closest("figure").querySelector("figcaption");
    var text = "";
    if (figcaption) {
      var copy = figcaption.cloneNode(true);
      Array.prototype.forEach.call(copy.querySelectorAll(".headerlink"), function (a) { a.remove(); });
      text = copy.textContent.trim();
    }
    box.querySelector(".course-lightbox-caption").textContent = text;
    if (typeof box.showModal === "function") box.showModal();
    else box.setAttribute("open", "");
  }

  function zoomable(img) {
    if (img.closest("a, button, .course-lightbox, .jupyter-widgets, .widget-output")) return false;
    if (img.src.indexOf("data:image/svg") === 0) return false;
    return true;
  }

  function makeZoomable(root) {
    var images = root.querySelectorAll(".bd-article img");
    Array.prototype.forEach.call(images, function (img) {
      if (img.dataset.courseZoom || !zoomable(img)) return;
      img.dataset.courseZoom = "1";
      img.classList.add("course-zoomable");
      img.setAttribute("tabindex", "0");
      img.setAttribute("role", "button");
      img.setAttribute("title", "Click to enlarge");
      img.addEventListener("click", function () { enlarge(img); });
      img.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          enlarge(img);
        }
      });
    });
  }

  // 3. ---------------------------------------------------------------------------------------------------------
  function wrapTables() {
    var tables = document.querySelectorAll(".bd-article table");
    Array.prototype.forEach.call(tables, function (table) {
      var parent = table.parentElement;
      if (!parent || parent.classList.contains("pst-scrollable-table-container") ||
          parent.classList.contains("course-table-scroll") || table.closest(".jupyter-widgets")) return;
      var box = document.createElement("div");
      box.className = "course-table-scroll";
      parent.insertBefore(box, table);
      box.appendChild(table);
    });
  }

  ready(function () {
    forwardToggles(".primary-toggle");
    forwardToggles(".secondary-toggle");
    wrapTables();
    makeZoomable(document);
  });
})();
