// Progressive enhancement on every page: a filter box above long lists to choose from.
// A <select> with more than 30 options, and a list of more than 30 checkboxes, get a search
// box that keeps only the choices containing every word typed (chosen ones always stay).
// Without JavaScript the lists work as they are.
(function () {
  "use strict";
  var LONG = 30;

  function normalise(text) {
    return (text || "").normalize("NFKC").toLowerCase();
  }

  function words(text) {
    return normalise(text).split(/\s+/).filter(Boolean);
  }

  function matches(text, wanted) {
    var haystack = normalise(text);
    return wanted.every(function (word) { return haystack.indexOf(word) !== -1; });
  }

  function labelOf(element) {
    if (element.getAttribute("aria-label")) { return element.getAttribute("aria-label"); }
    if (element.labels && element.labels.length) { return element.labels[0].textContent.trim(); }
    var fieldset = element.closest("fieldset");
    var legend = fieldset && fieldset.querySelector("legend");
    return legend ? legend.textContent.trim() : "";
  }

  // The box is named 「候補の絞り込み」 and described by the list's label: a name holding the
  // label would make the label name two controls.
  function filterBox(label) {
    var box = document.createElement("input");
    box.type = "search";
    box.className = "list-filter";
    box.placeholder = "絞り込み(名称やコードの一部を入力)";
    box.setAttribute("aria-label", "候補の絞り込み");
    if (label) { box.title = label + "の候補を、入力した語を含むものに絞り込みます"; }
    box.autocomplete = "off";
    return box;
  }

  function searchableSelect(select) {
    if (select.dataset.filterReady || select.querySelector("optgroup")) { return; }
    if (select.options.length <= LONG) { return; }
    select.dataset.filterReady = "1";
    var all = Array.prototype.slice.call(select.options);
    var box = filterBox(labelOf(select));
    if (select.id) { box.setAttribute("aria-controls", select.id); }
    select.parentNode.insertBefore(box, select);
    box.addEventListener("input", function () {
      var wanted = words(box.value);
      var keep = all.filter(function (option) {
        return option.selected || option.value === "" || matches(option.text, wanted);
      });
      while (select.firstChild) { select.removeChild(select.firstChild); }
      keep.forEach(function (option) { select.appendChild(option); });
    });
    box.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") { return; }
      event.preventDefault();  // Enter filters; it never submits the form
      var found = Array.prototype.filter.call(select.options, function (option) {
        return option.value !== "" && matches(option.text, words(box.value));
      });
      if (found.length === 1 && !select.multiple) {
        select.value = found[0].value;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  }

  function filterableList(list) {
    if (list.dataset.filterReady) { return; }
    var items = Array.prototype.filter.call(list.children, function (li) {
      return li.querySelector("input[type=checkbox]");
    });
    if (items.length <= LONG) { return; }
    list.dataset.filterReady = "1";
    var box = filterBox(labelOf(list));
    list.parentNode.insertBefore(box, list);
    box.addEventListener("input", function () {
      var wanted = words(box.value);
      items.forEach(function (li) {
        var box = li.querySelector("input[type=checkbox]");
        li.hidden = !(box.checked || matches(li.textContent, wanted));
      });
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }
    });
  }

  function enhance(root) {
    root.querySelectorAll("select").forEach(searchableSelect);
    root.querySelectorAll("ul.choices, ul.choice-list").forEach(filterableList);
  }

  window.Hyoka = { enhance: enhance, normalise: normalise };
  enhance(document);
}());
