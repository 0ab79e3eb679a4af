// Progressive enhancement for the section editor (templates/pia/assessments/section_edit.html):
// - warn before leaving with unsaved changes;
// - add and remove entries of groups (システム1, 2, …) and rows of tables in the page, without
//   a save in between (an added entry is a copy of the group's <template>, its index placeholder
//   replaced by the next free index; a saved entry is removed by its 削除 box, on saving);
// - 「台帳からまとめて追加」: the ticked 台帳 records become entries at once;
// - the preview of formatted texts, rendered by the server (the same sanitiser as the pages).
// Without JavaScript the form works as before: one blank entry per group and row per table,
// 「保存して編集を続ける」 for more, and the ticked 台帳 records added on saving.
(function () {
  "use strict";
  var form = document.querySelector(".pia-section-form");
  if (!form) { return; }

  // --- unsaved changes ----------------------------------------------------------------
  var dirty = false;
  function markDirty() { dirty = true; }
  form.addEventListener("input", markDirty);
  form.addEventListener("change", markDirty);
  form.addEventListener("submit", function () { dirty = false; });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  // --- entries of groups and rows of tables -------------------------------------------
  function containerOf(element) {
    return element.closest("[data-pia-group], [data-pia-table]");
  }

  function listOf(container) {
    return container.hasAttribute("data-pia-table")
      ? container.querySelector(":scope > table > tbody")
      : container.querySelector(":scope > [data-pia-entries]");
  }

  function entriesOf(container) {
    return Array.prototype.filter.call(listOf(container).children, function (node) {
      return node.hasAttribute("data-pia-entry");
    });
  }

  function addLabel(container, count) {
    if (container.hasAttribute("data-pia-table")) { return "行を追加する"; }
    return container.getAttribute("data-title").replace("{n}", String(count + 1)) + "を追加する";
  }

  function renumber(container) {
    var pattern = container.getAttribute("data-title");
    var entries = entriesOf(container);
    if (pattern) {
      entries.forEach(function (entry, position) {
        entry.querySelectorAll("[data-pia-title]").forEach(function (title) {
          if (title.closest("[data-pia-entry]") === entry) {
            title.textContent = pattern.replace("{n}", String(position + 1));
          }
        });
      });
    }
    var button = container.querySelector(":scope > .pia-add > [data-pia-add]");
    if (button) { button.textContent = addLabel(container, entries.length); }
  }

  function fromTemplate(container) {
    var template = container.querySelector(":scope > template[data-pia-template]");
    var index = Number(container.getAttribute("data-next-index")) || 0;
    container.setAttribute("data-next-index", String(index + 1));
    var html = template.innerHTML.split(container.getAttribute("data-placeholder")).join(String(index));
    var holder = document.createElement("template");
    holder.innerHTML = html;
    var node = holder.content.firstElementChild;
    node.setAttribute("data-index", String(index));
    return node;
  }

  function firstControl(node) {
    return node.querySelector("select, textarea, input:not([type=hidden]):not([type=search])");
  }

  function addEntry(container, options) {
    var node = fromTemplate(container);
    listOf(container).appendChild(node);
    enhance(node);
    if (window.Hyoka) { window.Hyoka.enhance(node); }
    setUpPreviews(node);
    renumber(container);
    if (options.dirty) { markDirty(); }
    if (options.focus) {
      var control = firstControl(node);
      if (control) { control.focus(); }
    }
    return node;
  }

  function setUp(container) {
    if (container.hasAttribute("data-pia-ready")) { return; }
    container.setAttribute("data-pia-ready", "");
    var list = listOf(container);
    // the blank entry (row) for use without JavaScript: the add button takes its place
    var blank = container.querySelector(":scope > [data-pia-new]") || list.querySelector(":scope > [data-pia-new]");
    if (blank) { blank.remove(); }
    var holder = document.createElement("p");
    holder.className = "pia-add";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button button--small";
    button.setAttribute("data-pia-add", "");
    if (container.hasAttribute("data-pia-table")) {
      button.setAttribute("aria-label", container.getAttribute("data-label") + "に行を追加する");
    }
    holder.appendChild(button);
    var after = container.hasAttribute("data-pia-table") ? container.querySelector(":scope > table") : list;
    after.insertAdjacentElement("afterend", holder);
    if (!entriesOf(container).length) {
      addEntry(container, { focus: false, dirty: false });
    }
    renumber(container);
  }

  function enhance(root) {
    if (root.matches && root.matches("[data-pia-group], [data-pia-table]")) { setUp(root); }
    root.querySelectorAll("[data-pia-group], [data-pia-table]").forEach(setUp);
  }

  form.addEventListener("click", function (event) {
    var add = event.target.closest("[data-pia-add]");
    if (add) {
      addEntry(containerOf(add), { focus: true, dirty: true });
      return;
    }
    var remove = event.target.closest("[data-pia-remove]");
    if (remove) {
      var entry = remove.closest("[data-pia-entry]");
      var container = containerOf(entry);
      entry.remove();
      renumber(container);
      markDirty();
      container.querySelector(":scope > .pia-add > [data-pia-add]").focus();
    }
  });

  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-pia-delete]")) {
      target.closest("[data-pia-entry]").classList.toggle("pia-entry--deleted", target.checked);
    }
    // a 台帳 record picked for an entry without a name: its name at once (the rest on saving)
    if (target.matches("select[name$='-inventory_id']")) {
      var option = target.options[target.selectedIndex];
      var name = form.querySelector("[name='" + target.name.replace(/inventory_id$/, "name") + "']");
      if (option && option.getAttribute("data-name") && name && !name.value.trim()) {
        name.value = option.getAttribute("data-name");
      }
    }
  });

  // --- 台帳からまとめて追加 -------------------------------------------------------------
  function setUpLedgerAdder(adder) {
    var container = containerOf(adder);
    var name = container.getAttribute("data-name");
    var hint = adder.querySelector("[data-pia-ledger-hint]");
    hint.textContent = "追加する記録を選び、「選んだ記録を追加する」を押してください。名称はすぐに、そのほかの記載は保存したときに台帳の内容で記載されます。";
    var status = document.createElement("p");
    status.className = "hint";
    status.setAttribute("role", "status");
    var button = document.createElement("button");
    button.type = "button";
    button.className = "button button--small";
    button.textContent = "選んだ記録を追加する";
    var actions = document.createElement("p");
    actions.appendChild(button);
    adder.appendChild(actions);
    adder.appendChild(status);
    button.addEventListener("click", function () {
      var ticked = adder.querySelectorAll("input[type=checkbox]:checked:not(:disabled)");
      var first = null;
      ticked.forEach(function (box) {
        var entry = addEntry(container, { focus: false, dirty: true });
        var index = entry.getAttribute("data-index");
        var picker = entry.querySelector("[name='" + name + "-" + index + "-inventory_id']");
        if (picker) { picker.value = box.value; }
        var title = entry.querySelector("[name='" + name + "-" + index + "-name']");
        if (title && !title.value) { title.value = box.getAttribute("data-name"); }
        box.checked = false;
        box.disabled = true;
        var done = document.createElement("small");
        done.className = "muted";
        done.textContent = " (追加しました)";
        box.parentNode.appendChild(done);
        first = first || entry;
      });
      status.textContent = ticked.length ? ticked.length + "件を追加しました。" : "追加する記録を選んでください。";
      if (first) {
        var control = firstControl(first);
        if (control) { control.focus(); }
      }
    });
  }

  // --- preview of formatted texts -----------------------------------------------------
  var previewUrl = form.getAttribute("data-preview-url");
  var token = form.querySelector("input[name=csrf_token]");

  function setUpPreview(details) {
    var textarea = document.getElementById(details.getAttribute("data-pia-preview"));
    var pane = details.querySelector("[data-pia-preview-pane]");
    var body = details.querySelector("[data-pia-preview-body]");
    if (!textarea || !pane || !previewUrl) { return; }
    pane.hidden = false;
    var timer = null;
    var sent = 0;
    function render() {
      var number = ++sent;
      var data = new URLSearchParams();
      data.append("text", textarea.value);
      if (token) { data.append("csrf_token", token.value); }
      fetch(previewUrl, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      }).then(function (response) {
        if ((response.headers.get("Content-Type") || "").indexOf("application/json") === -1) {
          // e.g. the session ended: an error page, not an answer
          return { ok: false, json: { error: "表示を確認できませんでした。画面を再読み込みしてからもう一度お試しください。" } };
        }
        return response.json().then(function (json) { return { ok: response.ok, json: json }; });
      }).then(function (result) {
        if (number !== sent) { return; }  // an answer to an older text
        if (result.ok) {
          // the server's renderer escapes raw HTML and sanitises its output (common.markdown)
          body.innerHTML = result.json.html || "<p class=\"muted\">(未記入)</p>";
        } else {
          body.textContent = result.json.error || "表示を確認できませんでした。";
        }
      }).catch(function () {
        if (number === sent) { body.textContent = "表示を確認できませんでした(通信できません)。"; }
      });
    }
    details.addEventListener("toggle", function () { if (details.open) { render(); } });
    textarea.addEventListener("input", function () {
      if (!details.open) { return; }
      window.clearTimeout(timer);
      timer = window.setTimeout(render, 400);
    });
  }

  function setUpPreviews(root) {
    root.querySelectorAll("[data-pia-preview]").forEach(function (details) {
      if (details.hasAttribute("data-pia-preview-ready")) { return; }
      details.setAttribute("data-pia-preview-ready", "");
      setUpPreview(details);
    });
  }

  enhance(form);
  form.querySelectorAll("[data-pia-ledger-add]").forEach(setUpLedgerAdder);
  setUpPreviews(form);
}());
