// Model Shelf page script: one file for the standalone page (`modelshelf ui`) and the
// A1111 / Forge tab (the WebUI loads javascript/modelshelf.js, a copy of this file).
// Every global name starts with `modelshelf`; setup runs once (onUiLoaded in a WebUI).

var modelshelfState = { polling: false, setUp: false, jobs: {}, tasks: {} };

function modelshelfRoot() {
    if (typeof gradioApp === "function") return gradioApp();
    var app = document.querySelector("gradio-app");
    return (app && app.shadowRoot) || document;
}

function modelshelfEl(selector) {
    return modelshelfRoot().querySelector(selector);
}

// Ask Python to run the bridge action `name` with `arg`: write both into the hidden box
// of the one bridge and click its hidden button.
function modelshelfCall(name, arg) {
    var box = modelshelfEl("#modelshelf_bridge_arg textarea, #modelshelf_bridge_arg input");
    var go = modelshelfEl("#modelshelf_bridge_go");
    if (!box || !go) return false;
    box.value = JSON.stringify({ name: name, arg: arg == null ? "" : String(arg) });
    box.dispatchEvent(new Event("input", { bubbles: true }));
    go.click();
    return true;
}

function modelshelfSetPolling(on) {
    if (modelshelfState.polling === on) return;
    var button = modelshelfEl(on ? "#modelshelf_poll_on" : "#modelshelf_poll_off");
    if (!button) return;
    modelshelfState.polling = on;
    button.click();
}

function modelshelfPollSoon() {
    modelshelfSetPolling(true);
}

function modelshelfCopy(text, button) {
    var done = function () {
        if (!button) return;
        button.classList.add("modelshelf-copied");
        setTimeout(function () { button.classList.remove("modelshelf-copied"); }, 1200);
    };
    if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { modelshelfCopyOld(text); done(); });
    } else {
        modelshelfCopyOld(text);
        done();
    }
}

function modelshelfCopyOld(text) {
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
}

// A1111 / Forge: add trained words to the txt2img or img2img prompt.
function modelshelfSendToPrompt(tab, words) {
    var area = modelshelfEl("#" + tab + "_prompt textarea");
    if (!area) return;
    var text = area.value.trim();
    area.value = text ? text + ", " + words : words;
    area.dispatchEvent(new Event("input", { bubbles: true }));
    var switcher = window["switch_to_" + tab];
    if (typeof switcher === "function") switcher();
}

// A1111 / Forge: show a finished download in the host's own lists without a restart.
function modelshelfRefreshHost() {
    var ids = [
        "txt2img_extra_refresh_internal", "img2img_extra_refresh_internal",
        "refresh_sd_model_checkpoint", "refresh_sd_vae", "forge_refresh_checkpoint",
    ];
    var clicked = {};
    ids.forEach(function (id) {
        var el = modelshelfEl("#" + id);
        if (el) { el.click(); clicked[id.split("_")[0]] = true; }
    });
    ["txt2img", "img2img"].forEach(function (tab) {
        if (clicked[tab]) return;
        var old = modelshelfEl("#" + tab + "_extra_refresh");  // before 1.8
        if (old) old.click();
    });
}

function modelshelfJobRow(job) {
    var row = document.createElement("div");
    row.className = "modelshelf-job";
    row.setAttribute("data-job", job.id);
    row.innerHTML =
        '<div class="modelshelf-job-head"><span class="modelshelf-job-name"></span>' +
        '<span class="modelshelf-job-state"></span></div>' +
        '<div class="modelshelf-bar"><div class="modelshelf-bar-fill"></div></div>' +
        '<div class="modelshelf-job-foot"><span class="modelshelf-job-facts"></span>' +
        '<span class="modelshelf-job-buttons">' +
        '<button type="button" class="modelshelf-btn" data-op="cancel">Cancel</button>' +
        '<button type="button" class="modelshelf-btn" data-op="retry">Retry</button></span></div>' +
        '<div class="modelshelf-job-error" role="alert"></div>' +
        '<div class="modelshelf-job-path"></div>';
    return row;
}

function modelshelfFillRow(row, job) {
    var q = function (s) { return row.querySelector(s); };
    q(".modelshelf-job-name").textContent = job.name || job.id;
    var state = q(".modelshelf-job-state");
    state.textContent = job.label || job.state;
    state.className = "modelshelf-job-state modelshelf-state-" + job.state;
    var pct = typeof job.percent === "number" ? Math.max(0, Math.min(100, job.percent)) : 0;
    q(".modelshelf-bar-fill").style.width = pct + "%";
    q(".modelshelf-bar").setAttribute("aria-valuenow", String(Math.round(pct)));
    var facts = [];
    if (typeof job.percent === "number") facts.push(Math.round(pct) + "%");
    if (job.state === "running") {
        if (job.speed_text) facts.push(job.speed_text);
        if (job.eta_text) facts.push("ETA " + job.eta_text);
    }
    q(".modelshelf-job-facts").textContent = facts.join(" · ");
    q('[data-op="cancel"]').hidden = !job.can_cancel;
    q('[data-op="retry"]').hidden = !job.can_retry;
    q(".modelshelf-job-error").textContent = job.error || "";
    q(".modelshelf-job-path").textContent = job.path || "";
}

function modelshelfApplyTasks(tasks) {
    if (!tasks) return;
    var line = modelshelfEl("#modelshelf-task");
    var finished = false;
    ["scan", "updates"].forEach(function (key) {
        var now = tasks[key];
        if (!now) return;
        var before = modelshelfState.tasks[key];
        // finished since the last snapshot (a short task may never be seen running),
        // or found finished by a page that just opened: show its result
        if (now.state !== "running" && now.state !== "idle" &&
            (!before || before.revision !== now.revision)) finished = true;
        modelshelfState.tasks[key] = now;
        if (line && now.state === "running") {
            line.textContent = (key === "scan" ? "Scanning: " : "Checking updates: ") + now.text;
        }
    });
    if (finished) {
        if (line) line.textContent = "";
        var started = modelshelfEl("#modelshelf_library_msg");  // "Scanning…", "Checking…"
        if (started) started.querySelectorAll(".modelshelf-msg").forEach(function (m) { m.remove(); });
        modelshelfCall("library", "");
    }
}

// A poll's answer arrives as the text of a hidden button; read each new one once.
function modelshelfReadJobs() {
    var holder = modelshelfEl("#modelshelf_jobs_data");
    var text = holder ? holder.textContent.trim() : "";
    if (!text || text === modelshelfState.lastJobs) return;
    modelshelfState.lastJobs = text;
    modelshelfApplyJobs(text);
}

// Apply a queue snapshot: only the rows of jobs that changed are touched.
function modelshelfApplyJobs(text) {
    var data;
    try { data = JSON.parse(text || "{}"); } catch (e) { return; }
    var list = modelshelfEl("#modelshelf-jobs");
    if (!list) return;
    if (data.full) {
        list.querySelectorAll(".modelshelf-job").forEach(function (row) { row.remove(); });
    }
    var finished = false;
    (data.jobs || []).forEach(function (job) {
        var row = list.querySelector('.modelshelf-job[data-job="' + CSS.escape(job.id) + '"]');
        if (!row) {
            row = modelshelfJobRow(job);
            list.insertBefore(row, list.firstChild);
        }
        var before = modelshelfState.jobs[job.id];
        if (!data.full && job.state === "done" && before !== "done") finished = true;  // seen first as done too
        modelshelfState.jobs[job.id] = job.state;
        modelshelfFillRow(row, job);
    });
    var empty = list.querySelector(".modelshelf-jobs-empty");
    if (empty) empty.hidden = list.querySelector(".modelshelf-job") !== null;
    if (data.error) {
        var msg = modelshelfEl("#modelshelf_jobs_msg");
        if (msg) msg.textContent = data.error;
    }
    modelshelfApplyTasks(data.tasks);
    if (finished) {
        modelshelfRefreshHost();
        modelshelfCall("refresh", "");
    }
}

function modelshelfOnClick(event) {
    var t = event.target.closest ? event.target.closest("[data-modelshelf-open],[data-modelshelf-download]," +
        "[data-modelshelf-reveal],[data-modelshelf-copy],[data-modelshelf-send],[data-op]," +
        "[data-modelshelf-update],[data-modelshelf-link]") : null;
    if (!t || !t.closest(".modelshelf")) return;
    var d = t.dataset;
    if (d.modelshelfOpen !== undefined) {
        modelshelfCall("open", d.modelshelfOpen);
    } else if (d.modelshelfDownload !== undefined) {
        modelshelfCall("download", d.modelshelfDownload + "|" + (d.modelshelfFile || ""));
        modelshelfPollSoon();
    } else if (d.modelshelfReveal !== undefined) {
        modelshelfCall("reveal", d.modelshelfReveal);
    } else if (d.modelshelfCopy !== undefined) {
        modelshelfCopy(d.modelshelfCopy, t);
    } else if (d.modelshelfSend !== undefined) {
        modelshelfSendToPrompt(d.modelshelfSend, d.modelshelfWords || "");
    } else if (d.op) {
        var row = t.closest(".modelshelf-job");
        if (row) modelshelfCall("job", d.op + ":" + row.getAttribute("data-job"));
        modelshelfPollSoon();
    } else if (d.modelshelfUpdate !== undefined) {
        modelshelfCall("update", d.modelshelfUpdate);
        modelshelfPollSoon();
    } else if (d.modelshelfLink !== undefined) {
        var input = t.parentElement.querySelector("input");
        modelshelfCall("link", d.modelshelfLink + "|" + (input ? input.value : ""));
    }
}

// "Get models": the ticked guesses go into a hidden box that "Download all" reads.
function modelshelfOnChange(event) {
    var t = event.target;
    if (!t || !t.dataset || t.dataset.modelshelfGuess === undefined) return;
    var list = t.closest(".modelshelf-getmodels") || modelshelfRoot();
    var ticked = [];
    list.querySelectorAll("[data-modelshelf-guess]").forEach(function (box) {
        if (box.checked) ticked.push(box.dataset.modelshelfGuess);
    });
    var input = modelshelfEl("#modelshelf_gm_accepted textarea, #modelshelf_gm_accepted input");
    if (!input) return;
    input.value = ticked.join(",");
    input.dispatchEvent(new Event("input", { bubbles: true }));
}

function modelshelfSetUp() {
    var root = modelshelfEl("#modelshelf_root");
    if (!root || modelshelfState.setUp) return !!root;
    modelshelfState.setUp = true;
    root.addEventListener("click", modelshelfOnClick);
    root.addEventListener("change", modelshelfOnChange);
    var data = modelshelfEl("#modelshelf_jobs_data");
    if (data) {
        new MutationObserver(modelshelfReadJobs).observe(data, {
            childList: true, subtree: true, characterData: true,
        });
        modelshelfReadJobs();
    }
    // Follow the queue only while the UI is on screen (no polling in a hidden tab).
    new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) { modelshelfSetPolling(entry.isIntersecting); });
    }).observe(root);
    return true;
}

function modelshelfWatchForRoot() {
    if (modelshelfSetUp()) return;
    var observer = new MutationObserver(function () {
        if (modelshelfSetUp()) observer.disconnect();
    });
    observer.observe(document.body, { childList: true, subtree: true });
}

if (typeof onUiLoaded === "function") {
    onUiLoaded(modelshelfSetUp);  // A1111, Forge, SD.Next
} else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", modelshelfWatchForRoot);
} else {
    modelshelfWatchForRoot();  // Gradio 4 adds `head` scripts after the page has loaded
}
