// The search page's progressive parts; the page works the same without them.
// - Suggestions under the box as the visitor types, from GET /api/v1/suggest (which
//   matches titles, their pinyin and pinyin initials: "sx" finds 数学). The box is an
//   ARIA 1.2 combobox: arrow keys move through the list, Enter searches for the
//   chosen title, Escape closes the list.
// - On a small screen the filters start folded, so that the results come first,
//   unless a field among them says what is wrong with it (a date it cannot read).
(function () {
  "use strict";

  var DELAY_MS = 150;
  var LIMIT = 8;

  var input = document.getElementById("q");
  if (input && input.getAttribute("data-suggest") && window.fetch) {
    suggestions(input);
  }
  var filters = document.getElementById("filters");
  var small = window.matchMedia && !window.matchMedia("(min-width: 48em)").matches;
  if (filters && small && !filters.querySelector("[aria-invalid='true']")) {
    filters.open = false;
  }

  function suggestions(input) {
    var list = document.createElement("ul");
    list.id = input.id + "-suggestions";
    list.className = "suggestions";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", input.getAttribute("data-suggestions-label") || "");
    list.hidden = true;
    input.parentNode.appendChild(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);

    var active = -1;
    var timer = null;
    var asked = null;
    var pending = null;

    function close() {
      list.hidden = true;
      list.textContent = "";
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function show(titles) {
      list.textContent = "";
      active = -1;
      titles.forEach(function (title, i) {
        var option = document.createElement("li");
        option.id = list.id + "-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.textContent = title;
        // mousedown, not click: it comes before the box loses its focus.
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          pick(title);
        });
        list.appendChild(option);
      });
      if (!titles.length) {
        close();
        return;
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function move(step) {
      var options = list.children;
      if (!options.length) {
        return;
      }
      if (active >= 0) {
        options[active].setAttribute("aria-selected", "false");
      }
      active = (active + step + options.length) % options.length;
      options[active].setAttribute("aria-selected", "true");
      options[active].scrollIntoView({ block: "nearest" });
      input.setAttribute("aria-activedescendant", options[active].id);
    }

    function pick(title) {
      input.value = title;
      close();
      // The box's own button, whose formaction may differ from the form's (the
      // LMS picker's form posts its choices; its search button searches).
      var button = input.form.querySelector(".search-row button[type=submit]");
      if (input.form.requestSubmit) {
        input.form.requestSubmit(button);
      } else if (button) {
        button.click();
      } else {
        input.form.submit();
      }
    }

    function ask() {
      var text = input.value.trim();
      if (text === asked) {
        return;
      }
      asked = text;
      if (pending) {
        pending.abort();
      }
      if (!text) {
        close();
        return;
      }
      pending = window.AbortController ? new AbortController() : null;
      var url = input.getAttribute("data-suggest") + "?limit=" + LIMIT +
        "&q=" + encodeURIComponent(text);
      fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: pending ? pending.signal : undefined
      })
        .then(function (response) {
          return response.ok ? response.json() : { suggestions: [] };
        })
        .then(function (body) {
          // An answer to what the box held before is of no use now.
          if (input.value.trim() === text && document.activeElement === input) {
            show(body.suggestions || []);
          }
        })
        .catch(function () {
          // No suggestions (offline, aborted): the box still searches.
        });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DELAY_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) {
        if (event.key === "ArrowDown" && input.value.trim()) {
          asked = null;
          ask();
        }
        return;
      }
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        move(event.key === "ArrowDown" ? 1 : -1);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        pick(list.children[active].textContent);
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    });
    input.addEventListener("blur", close);
  }
})();
