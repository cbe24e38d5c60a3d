/* Grid workbench forms (网格员工作台, components/work_views.action_form).
 *
 * Every change is kept as a draft in this browser (localStorage), so a form survives a
 * dropped network, a reload or a closed tab; the draft carries the idempotency key drawn
 * when it was started and the time the user pressed 提交, so sending it again (a double
 * tap, a retry when the network is back) records one step. Photos are shrunk to 1600 px
 * JPEG before they are kept or sent. Pending drafts are retried when the browser comes
 * back online and every 20 s while a workbench page is open.
 */
(function () {
  "use strict";
  var PREFIX = "jinjian-work-draft:";
  var MAX_PHOTOS = 5;
  var inflight = {};

  function draftKey(task, action) { return PREFIX + task + ":" + action; }
  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var a = new Uint8Array(16);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function load(k) { try { return JSON.parse(window.localStorage.getItem(k) || "null"); } catch (e) { return null; } }
  function store(d) {
    var k = draftKey(d.task, d.action);
    try { window.localStorage.setItem(k, JSON.stringify(d)); return true; } catch (e) {
      try { window.localStorage.setItem(k, JSON.stringify(Object.assign({}, d, { photos: [] }))); } catch (e2) { /* full */ }
      return false;
    }
  }
  function drop(d) { window.localStorage.removeItem(draftKey(d.task, d.action)); }
  function draftOf(form) {
    var d = load(draftKey(form.dataset.task, form.dataset.action));
    return d || { key: newKey(), task: form.dataset.task, action: form.dataset.action, outcome: "", note: "",
                  photos: [], lat: null, lon: null, recorded_at: null, pending: false, fields: {} };
  }
  function formOf(d) {
    return document.querySelector('.work-form[data-task="' + d.task + '"][data-action="' + d.action + '"]');
  }
  function say(form, text, kind) {
    var s = form && form.querySelector(".work-status");
    if (s) { s.textContent = text; s.className = "work-status" + (kind ? " " + kind : ""); }
  }
  function localIso(t) {
    var p = function (n) { return ("0" + n).slice(-2); };
    return t.getFullYear() + "-" + p(t.getMonth() + 1) + "-" + p(t.getDate()) + "T" + p(t.getHours()) + ":" +
      p(t.getMinutes()) + ":" + p(t.getSeconds());
  }

  function renderPhotos(form, d) {
    var list = form.querySelector(".work-photo-list");
    if (!list) { return; }
    list.textContent = "";
    d.photos.forEach(function (src, i) {
      var box = document.createElement("span");
      box.className = "work-photo";
      var img = document.createElement("img");
      img.src = src; img.alt = "照片 " + (i + 1); img.className = "work-thumb";
      var rm = document.createElement("button");
      rm.type = "button"; rm.className = "work-photo-remove"; rm.textContent = "删除"; rm.dataset.index = String(i);
      box.appendChild(img); box.appendChild(rm); list.appendChild(box);
    });
  }
  function setUp(form) {
    if (form.dataset.ready) { return; }
    form.dataset.ready = "1";
    var d = draftOf(form);
    var slot = form.querySelector(".work-photo-slot");
    if (slot) {
      var label = document.createElement("label");
      label.className = "work-photo-label";
      label.textContent = "拍照或选择照片（最多 " + MAX_PHOTOS + " 张）";
      var input = document.createElement("input");
      input.type = "file"; input.accept = "image/jpeg,image/png,image/webp"; input.multiple = true;
      input.className = "work-photo-input";
      label.appendChild(input); slot.appendChild(label);
    }
    form.querySelectorAll(".work-outcome").forEach(function (b) {
      var on = b.dataset.outcome === d.outcome;
      b.classList.toggle("selected", on); b.setAttribute("aria-checked", on ? "true" : "false");
    });
    var note = form.querySelector(".work-note");
    if (note && d.note) { note.value = d.note; }
    form.querySelectorAll(".work-field").forEach(function (f) {
      if (d.fields && d.fields[f.name]) { f.value = d.fields[f.name]; }
    });
    if (d.lat !== null) { form.querySelector(".work-locate").textContent = "已附位置"; }
    renderPhotos(form, d);
    if (d.pending) { say(form, "已保存草稿，等待提交…", "draft"); send(d); }
    else if (d.outcome || d.note || d.photos.length || Object.keys(d.fields || {}).length) { say(form, "已保存草稿", "draft"); }
  }

  function resetForm(form) {
    form.querySelectorAll(".work-outcome").forEach(function (o) {
      o.classList.remove("selected"); o.setAttribute("aria-checked", "false");
    });
    var note = form.querySelector(".work-note");
    if (note) { note.value = ""; }
    form.querySelectorAll("textarea.work-field").forEach(function (f) { f.value = ""; });
    form.querySelector(".work-locate").textContent = "附上当前位置";
    renderPhotos(form, { photos: [] });
  }

  function shrink(file) {
    return new Promise(function (resolve, reject) {
      if (!/^image\/(jpeg|png|webp)$/.test(file.type)) { reject(new Error("type")); return; }
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        var r = Math.min(1, 1600 / Math.max(img.naturalWidth, img.naturalHeight));
        var c = document.createElement("canvas");
        c.width = Math.max(1, Math.round(img.naturalWidth * r)); c.height = Math.max(1, Math.round(img.naturalHeight * r));
        c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
        URL.revokeObjectURL(url);
        resolve(c.toDataURL("image/jpeg", 0.8));
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("decode")); };
      img.src = url;
    });
  }
  function blobOf(dataUrl) {
    var parts = dataUrl.split(","), bin = atob(parts[1]), a = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { a[i] = bin.charCodeAt(i); }
    return new Blob([a], { type: parts[0].slice(5).split(";")[0] });
  }

  function send(d) {
    if (inflight[d.key]) { return; }
    inflight[d.key] = true;
    var fd = new FormData();
    ["action", "outcome", "key", "note", "recorded_at"].forEach(function (k) { fd.append(k, d[k] || ""); });
    if (d.lat !== null && d.lon !== null) { fd.append("lat", String(d.lat)); fd.append("lon", String(d.lon)); }
    d.photos.forEach(function (src, i) { fd.append("photo", blobOf(src), "photo-" + (i + 1) + ".jpg"); });
    // 上报线索: a new clue about the business picked on the page, or about one not registered
    var clue = d.action === "clue" || d.action === "unlicensed";
    if (d.action === "clue") { fd.append("credit_code", d.credit_code || ""); }
    Object.keys(d.fields || {}).forEach(function (k) { fd.append(k, d.fields[k] || ""); });
    fetch(clue ? "/api/v1/work/clues" : "/api/v1/work/tasks/" + encodeURIComponent(d.task) + "/actions",
          { method: "POST", body: fd, credentials: "same-origin" })
      .then(function (resp) {
        return resp.json().catch(function () { return {}; }).then(function (body) {
          var form = formOf(d);
          if (resp.ok) {
            drop(d);
            if (clue && form) { resetForm(form); }
            say(form, clue ? "已上报：线索已报镇街（任务编号 " + body.task_id + "）" : (body.message || "已提交"), "done");
            var refresh = document.getElementById("work-task-refresh");
            if (refresh) { window.setTimeout(function () { refresh.click(); }, 800); }
          } else if (resp.status === 401) {
            say(form, "登录已过期：草稿已保存，请重新登录后自动提交", "draft");
          } else if (resp.status >= 500 || resp.status === 408 || resp.status === 429) {
            say(form, "已保存草稿，服务器暂时无法处理，稍后自动重试", "draft");
          } else {
            var msg = (body.error && body.error.message) || "提交未成功";
            if (resp.status === 404 || resp.status === 409) { drop(d); } else { d.pending = false; store(d); }
            say(form, msg, "error");
          }
        });
      })
      .catch(function () { say(formOf(d), "已保存草稿（网络中断），网络恢复后自动提交", "draft"); })
      .then(function () { delete inflight[d.key]; });
  }
  function retryAll() {
    for (var i = 0; i < window.localStorage.length; i++) {
      var k = window.localStorage.key(i);
      if (k && k.indexOf(PREFIX) === 0) {
        var d = load(k);
        if (d && d.pending) { send(d); }
      }
    }
  }

  document.addEventListener("click", function (ev) {
    var form = ev.target.closest && ev.target.closest(".work-form");
    if (!form) { return; }
    var d = draftOf(form);
    var b = ev.target.closest(".work-outcome");
    if (b) {
      d.outcome = b.dataset.outcome;
      form.querySelectorAll(".work-outcome").forEach(function (o) {
        o.classList.toggle("selected", o === b); o.setAttribute("aria-checked", o === b ? "true" : "false");
      });
      store(d); say(form, "已保存草稿", "draft");
    } else if (ev.target.closest(".work-photo-remove")) {
      d.photos.splice(Number(ev.target.dataset.index), 1);
      store(d); renderPhotos(form, d);
    } else if (ev.target.closest(".work-locate")) {
      if (!navigator.geolocation) { say(form, "此设备不能定位，可不附位置", "error"); return; }
      navigator.geolocation.getCurrentPosition(function (pos) {
        var f = formOf(d), cur = draftOf(f);
        cur.lat = Math.round(pos.coords.latitude * 1e6) / 1e6; cur.lon = Math.round(pos.coords.longitude * 1e6) / 1e6;
        store(cur); f.querySelector(".work-locate").textContent = "已附位置"; say(f, "已保存草稿", "draft");
      }, function () { say(form, "未能取得位置，可不附位置", "error"); }, { timeout: 10000, maximumAge: 60000 });
    } else if (ev.target.closest(".work-submit")) {
      if (!d.outcome) { say(form, d.action === "clue" || d.action === "unlicensed" ? "请先选择线索类型" : "请先选择办理结果", "error"); return; }
      if (d.action === "clue") {
        var picked = document.querySelector("#work-clue-entity input:checked");
        if (!picked && !d.credit_code) { say(form, "请先查找并选择经营主体", "error"); return; }
        if (picked) { d.credit_code = picked.value; }
      }
      if (d.action === "unlicensed") {
        d.fields = d.fields || {};
        form.querySelectorAll(".work-field").forEach(function (f) { d.fields[f.name] = f.value.trim(); });
        if (!d.fields.name) { say(form, "请填写经营者或店招名称", "error"); return; }
        if (!d.fields.address) { say(form, "请填写经营地址", "error"); return; }
        if (!d.fields.grid_code) { say(form, "请选择发现网格", "error"); return; }
      }
      d.recorded_at = d.recorded_at || localIso(new Date());
      d.pending = true;
      store(d); say(form, "正在提交…", "draft");
      send(d);
    }
  });
  function typed(ev) {
    var form = ev.target.closest && ev.target.closest(".work-form");
    if (!form) { return; }
    var d = draftOf(form);
    if (ev.target.classList.contains("work-note")) { d.note = ev.target.value.slice(0, 400); }
    else if (ev.target.classList.contains("work-field")) {
      d.fields = d.fields || {}; d.fields[ev.target.name] = ev.target.value.slice(0, 200);
    } else { return; }
    store(d); say(form, "已保存草稿", "draft");
  }
  document.addEventListener("input", typed);
  document.addEventListener("change", function (ev) {
    var form = ev.target.closest && ev.target.closest(".work-form");
    if (form && ev.target.tagName === "SELECT") { typed(ev); return; }
    if (!form || !ev.target.classList.contains("work-photo-input")) { return; }
    var files = Array.prototype.slice.call(ev.target.files || []);
    var d = draftOf(form);
    if (d.photos.length + files.length > MAX_PHOTOS) {
      say(form, "照片最多 " + MAX_PHOTOS + " 张，已有 " + d.photos.length + " 张", "error");
      ev.target.value = ""; return;
    }
    Promise.all(files.map(function (f, i) {
      return shrink(f).catch(function () { throw new Error("第 " + (d.photos.length + i + 1) + " 张不是 JPG、PNG 或 WebP 图片"); });
    })).then(function (srcs) {
      var cur = draftOf(form);
      cur.photos = cur.photos.concat(srcs);
      var kept = store(cur);
      renderPhotos(form, cur);
      say(form, kept ? "已保存草稿" : "照片已添加（本机存储已满，断网时照片不能保存）", kept ? "draft" : "error");
    }).catch(function (err) { say(form, err.message, "error"); })
      .then(function () { ev.target.value = ""; });
  });

  new MutationObserver(function () {
    document.querySelectorAll(".work-form:not([data-ready])").forEach(setUp);
    // a list filled after the form was set up (the worker's grids): show the draft's choice, once
    document.querySelectorAll(".work-form[data-ready] select.work-field:not([data-restored])").forEach(function (sel) {
      if (!sel.options.length) { return; }
      sel.dataset.restored = "1";
      var form = sel.closest(".work-form"), d = load(draftKey(form.dataset.task, form.dataset.action));
      var want = d && d.fields && d.fields[sel.name];
      if (want && sel.querySelector('option[value="' + want + '"]')) { sel.value = want; }
    });
  }).observe(document.documentElement, { childList: true, subtree: true });
  window.addEventListener("online", retryAll);
  window.setInterval(function () { if (document.querySelector(".work-page")) { retryAll(); } }, 20000);
  window.addEventListener("load", function () { if (document.querySelector(".work-page")) { retryAll(); } });
}());
