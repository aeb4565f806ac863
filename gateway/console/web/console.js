// The wristpay operator console: plain browser JavaScript, no build step.
// The live picture comes over MQTT over WebSocket (the operator's own account,
// read-only ACLs): `gateway/state` (the fleet, already sorted worst first by
// the gateway, and the totals) and `events/alert`. Reads and actions go to the
// gateway's /console/api/ with the operator's own credentials. Everything from
// the network is put on the page as text (textContent), never as HTML.
'use strict'
;(function () {
  const STORAGE_KEY = 'wristpay-console-operator'
  const GATEWAY_STATE_TOPIC = 'wristpay/v1/gateway/state'
  const ALERT_TOPIC = 'wristpay/v1/events/alert'
  const MAX_ALERTS = 200
  const MAX_CHART_POINTS = 720
  const READS_REFRESH_MS = 30000

  const $ = (id) => document.getElementById(id)
  let credentials = null
  let client = null
  let charts = null
  let readsTimer = null
  const series = { x: [], sales: [], p99: [] }
  let lastState = null

  function el(tag, text, className) {
    const node = document.createElement(tag)
    if (text !== undefined && text !== null) node.textContent = String(text)
    if (className) node.className = className
    return node
  }

  function euros(cents) {
    return typeof cents === 'number' ? (cents / 100).toFixed(2) : ''
  }

  function clock(ms) {
    return typeof ms === 'number' ? new Date(ms).toLocaleTimeString([], { hour12: false }) : ''
  }

  function ago(ms, now) {
    if (typeof ms !== 'number') return 'never'
    const seconds = Math.max(0, Math.round((now - ms) / 1000))
    if (seconds < 60) return seconds + ' s ago'
    if (seconds < 3600) return Math.round(seconds / 60) + ' min ago'
    return Math.round(seconds / 3600) + ' h ago'
  }

  function device(d) {
    if (d === undefined || d === null) return ''
    if (typeof d === 'string') return d
    return d.kind + ' ' + d.health
  }

  // --- HTTP API ------------------------------------------------------------

  async function api(method, path, body) {
    const headers = { 'wristpay-operator': credentials.name + ':' + credentials.token }
    if (body !== undefined) headers['content-type'] = 'application/json'
    const response = await fetch('api/' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
    const answer = await response.json().catch(() => ({}))
    if (!response.ok) {
      const error = new Error(answer.message || 'HTTP ' + response.status)
      error.status = response.status
      error.type = answer.type
      throw error
    }
    return answer
  }

  // --- login -----------------------------------------------------------------

  function showLogin(message) {
    stop()
    $('app').hidden = true
    $('login-view').hidden = false
    $('login-error').hidden = !message
    $('login-error').textContent = message || ''
  }

  async function start() {
    let me
    try {
      me = await api('GET', 'whoami')
    } catch (err) {
      sessionStorage.removeItem(STORAGE_KEY)
      showLogin(err.status === 401 ? 'Unknown operator or wrong token.' : 'The gateway did not answer: ' + err.message)
      return
    }
    $('login-view').hidden = true
    $('app').hidden = false
    $('operator').textContent = me.name
    $('role').textContent = me.admin ? '(admin)' : '(read only)'
    document.body.classList.toggle('admin', me.admin)
    setupCharts()
    loadReads()
    readsTimer = setInterval(loadReads, READS_REFRESH_MS)
    const config = await fetch('config.json', { cache: 'no-store' }).then((r) => r.json())
    if (!config.mqtt) {
      showBanner('This gateway has no MQTT WebSocket listener (set mqtt.websocket in its config): no live picture.')
      return
    }
    connect(config.mqtt)
  }

  function stop() {
    if (client) client.end(true)
    client = null
    if (readsTimer) clearInterval(readsTimer)
    readsTimer = null
  }

  $('login').addEventListener('submit', (event) => {
    event.preventDefault()
    credentials = { name: $('login-name').value.trim(), token: $('login-token').value }
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credentials))
    $('login-token').value = ''
    start()
  })

  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(STORAGE_KEY)
    credentials = null
    hideEnrollment()
    showLogin('')
  })

  // --- MQTT ------------------------------------------------------------------

  function showBanner(text) {
    $('banner').textContent = text
    $('banner').hidden = !text
  }

  function setConnection(text, ok) {
    const node = $('connection')
    node.textContent = text
    node.className = 'connection ' + (ok ? 'ok' : 'lost')
  }

  function connect(listener) {
    const scheme = listener.tls || location.protocol === 'https:' ? 'wss' : 'ws'
    const url = scheme + '://' + location.hostname + ':' + listener.port + listener.path
    const suffix = Math.random().toString(36).slice(2, 10)
    client = mqtt.connect(url, {
      username: 'operator:' + credentials.name,
      password: credentials.token,
      // The operator's own client-id namespace; a random suffix so that two tabs do not replace each other.
      clientId: 'operator-' + credentials.name + '/console-' + suffix,
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: 10000,
      protocolVersion: 4,
    })
    client.on('connect', () => {
      setConnection('connected', true)
      showBanner(lastState && lastState.status === 'offline' ? gatewayStoppedText(lastState) : '')
      client.subscribe([GATEWAY_STATE_TOPIC, ALERT_TOPIC], { qos: 1 })
    })
    client.on('close', () => {
      setConnection('disconnected', false)
      showBanner('Connection to the gateway lost: what you see is no longer live. Reconnecting…')
    })
    client.on('error', (err) => {
      // A refused login does not get better by retrying.
      if (/not authori[sz]ed|bad user ?name or password/i.test(err.message)) {
        client.end(true)
        showBanner('The broker refused this operator account: ' + err.message)
      }
    })
    client.on('message', (topic, payload) => {
      let body
      try {
        body = JSON.parse(new TextDecoder().decode(payload))
      } catch {
        return
      }
      if (topic === GATEWAY_STATE_TOPIC) renderState(body)
      else if (topic === ALERT_TOPIC) addAlert(body)
    })
  }

  function gatewayStoppedText(state) {
    return 'The gateway stopped at ' + clock(state.at) + ': kiosks keep selling offline; the picture resumes when it is back.'
  }

  // --- rendering ---------------------------------------------------------------

  const TOTALS = [
    ['kiosksOnline', 'kiosks online', (t) => t.kiosksOnline + ' / ' + t.kiosksTotal],
    ['salesPerMin', 'sales per minute'],
    ['tapToAnswerP99Ms', 'tap to answer p99 (ms)'],
    ['accepted', 'accepted'],
    ['rejected', 'refused'],
    ['salesCents', 'sales', (t) => euros(t.salesCents)],
    ['topupsCents', 'top-ups', (t) => euros(t.topupsCents)],
    ['offlineSales', 'offline sales waiting'],
    ['openDebtsCents', 'open debts', (t) => euros(t.openDebtsCents)],
    ['alertsLastHour', 'alerts last hour'],
  ]

  function renderState(state) {
    if (!state || typeof state !== 'object') return
    lastState = state
    $('gateway-status').textContent = 'gateway ' + state.status + (state.version ? ' ' + state.version : '') + ', state of ' + clock(state.at)
    if (state.status === 'offline') showBanner(gatewayStoppedText(state))
    else if (client && client.connected) showBanner('')
    if (state.totals) renderTotals(state.totals)
    renderFleet(Array.isArray(state.fleet) ? state.fleet : [], state.at)
    if (state.status === 'online' && state.totals) addChartPoint(state.at, state.totals.salesPerMin, state.totals.tapToAnswerP99Ms)
  }

  function renderTotals(totals) {
    const dl = $('totals')
    dl.replaceChildren()
    for (const [key, label, format] of TOTALS) {
      const box = el('div')
      box.dataset.total = key
      box.append(el('dt', label), el('dd', format ? format(totals) : totals[key]))
      dl.append(box)
    }
  }

  function renderFleet(rows, now) {
    const body = $('fleet').tBodies[0]
    body.replaceChildren()
    $('fleet-empty').hidden = rows.length > 0
    // The gateway's order (worst first) is kept as it is.
    for (const row of rows) {
      const tr = el('tr')
      tr.dataset.kiosk = row.kiosk
      tr.dataset.status = row.status
      tr.className = row.severity === 0 ? 'sev-0' : row.severity >= 50 ? 'sev-high' : 'sev-mid'
      const reader = el('td', device(row.reader))
      if (row.reader && row.reader.detail) reader.title = row.reader.detail
      const terminal = el('td', device(row.terminal))
      if (row.terminal && row.terminal.detail) terminal.title = row.terminal.detail
      tr.append(
        el('td', row.kiosk),
        el('td', row.booth),
        el('td', row.status, 'status'),
        el('td', row.lastSeenAt === undefined ? 'never' : ago(row.lastSeenAt, now)),
        reader,
        terminal,
        el('td', row.outboxDepth === undefined ? '' : row.outboxDepth, 'num'),
        el('td', row.salesPerMin, 'num'),
        el('td', row.refusalsPerMin, 'num'),
        el('td', row.offlineSales, 'num'),
        el('td', (row.problems || []).join('; '), 'problems'),
        actionsCell(row.kiosk),
      )
      body.append(tr)
    }
  }

  function actionsCell(kiosk) {
    const td = el('td', null, 'admin-only')
    for (const command of ['lock', 'unlock']) {
      const button = el('button', command)
      button.type = 'button'
      button.dataset.action = command
      button.addEventListener('click', () => kioskCommand(kiosk, command))
      td.append(button)
    }
    return td
  }

  function addAlert(alert) {
    if (!alert || typeof alert.message !== 'string') return
    const li = el('li')
    li.dataset.kind = alert.kind
    const time = el('time', clock(alert.at))
    time.dateTime = new Date(alert.at).toISOString()
    li.append(time, el('span', alert.kind, 'kind'))
    if (alert.kiosk) li.append(el('span', alert.kiosk + ': ', 'kiosk'))
    li.append(el('span', alert.message))
    const list = $('alerts')
    list.prepend(li)
    while (list.children.length > MAX_ALERTS) list.lastElementChild.remove()
  }

  // --- charts ------------------------------------------------------------------

  function setupCharts() {
    if (charts || typeof uPlot !== 'function') return
    const width = Math.max(320, Math.min(640, document.body.clientWidth / 2 - 40))
    const options = (label, stroke) => ({
      width,
      height: 200,
      scales: { x: { time: true } },
      series: [{}, { label, stroke, width: 2 }],
      legend: { show: false },
    })
    charts = {
      sales: new uPlot(options('sales/min', '#176b2c'), [series.x, series.sales], $('chart-sales')),
      latency: new uPlot(options('p99 ms', '#7a1d1d'), [series.x, series.p99], $('chart-latency')),
    }
  }

  function addChartPoint(at, salesPerMin, p99) {
    const x = at / 1000
    // A retained state seen again after a reconnect is not a new point.
    if (series.x.length > 0 && x <= series.x[series.x.length - 1]) return
    series.x.push(x)
    series.sales.push(salesPerMin)
    series.p99.push(p99)
    if (series.x.length > MAX_CHART_POINTS) for (const key of ['x', 'sales', 'p99']) series[key].shift()
    if (charts) {
      charts.sales.setData([series.x, series.sales])
      charts.latency.setData([series.x, series.p99])
    }
  }

  // --- reads and actions -------------------------------------------------------

  function fillTable(id, rows, cells) {
    const body = $(id).tBodies[0]
    body.replaceChildren()
    for (const row of rows) {
      const tr = el('tr')
      for (const [value, numeric] of cells(row)) tr.append(el('td', value, numeric ? 'num' : undefined))
      body.append(tr)
    }
  }

  // The card terminal's end of day as the kiosk signed it into the close:
  // the total and each card type, or that it is missing and why (as text).
  function terminalTotalsText(totals) {
    if (totals === null) return ''
    if (totals.status === 'missing') return `missing: ${totals.reason}`
    const types = totals.cardTypes.map((c) => `${c.cardType} ${c.count} · ${euros(c.amountCents)}`).join(', ')
    return `${totals.count} · ${euros(totals.totalCents)}${types === '' ? '' : ` (${types})`}`
  }

  async function loadReads() {
    try {
      const [debts, shifts] = await Promise.all([api('GET', 'debts'), api('GET', 'shifts')])
      fillTable('debts', debts, (d) => [[d.uid], [d.kiosk], [euros(d.shortfall), true], [euros(d.balanceNow), true], [new Date(d.bookedAt).toLocaleString()]])
      fillTable('shifts', shifts, (s) => [
        [s.registerName],
        [s.kiosk],
        [s.staffName || s.staff || ''],
        [new Date(s.openedAt).toLocaleString()],
        [s.closedAt === null ? 'open' : new Date(s.closedAt).toLocaleString()],
        [euros(s.float), true],
        [euros(s.expected), true],
        [s.counted === null ? '' : euros(s.counted), true],
        [s.difference === null ? '' : euros(s.difference), true],
        [s.cardTopups.count === 0 ? '' : `${s.cardTopups.count} · ${euros(s.cardTopups.cents)}`, true],
        [terminalTotalsText(s.terminalTotals)],
        [s.cardDifference === null ? '' : euros(s.cardDifference), true],
      ])
    } catch (err) {
      if (err.status === 401) showLogin('Your operator credentials are no longer accepted.')
    }
  }

  function result(text, failed) {
    const node = $('action-result')
    node.textContent = text
    node.className = failed ? 'error' : ''
  }

  async function act(what, method, path, body) {
    try {
      const answer = await api(method, path, body)
      return answer
    } catch (err) {
      result(what + ' failed: ' + err.message + (err.type ? ' (' + err.type + ')' : ''), true)
      return null
    }
  }

  async function setBlocked(blocked) {
    const uid = $('block-uid').value.trim().toUpperCase()
    if (!uid) return
    const answer = await act(blocked ? 'Block' : 'Unblock', 'PUT', 'wristbands/' + encodeURIComponent(uid) + '/blocked', { blocked })
    if (answer) result('Wristband ' + answer.uid + (answer.blocked ? ' blocked' : ' unblocked') + '; ' + answer.kiosksUpdated + ' kiosks told.', false)
  }

  $('block-form').addEventListener('submit', (event) => {
    event.preventDefault()
    setBlocked(true)
  })
  $('unblock-button').addEventListener('click', () => setBlocked(false))

  $('push-setup').addEventListener('click', async () => {
    const answer = await act('Pushing the event set-up', 'POST', 'event/push')
    if (answer) result('Event set-up pushed again to ' + answer.kiosks + ' kiosks.', false)
  })

  async function kioskCommand(kiosk, command) {
    result(command + ' sent to ' + kiosk + '…', false)
    const answer = await act(command + ' of ' + kiosk, 'POST', 'kiosks/' + encodeURIComponent(kiosk) + '/' + command, {})
    if (answer) result('Kiosk ' + kiosk + ' answered ' + command + ': ' + answer.status + (answer.message ? ' (' + answer.message + ')' : ''), answer.status !== 'done')
  }

  // --- enrolling a kiosk (admin) -------------------------------------------------
  // The code is shown once, here: the gateway keeps only its hash. The QR code (the
  // enroll command line) is the PNG data URL the gateway made, shown as an image
  // (the page's policy allows img-src data:), so no markup from the network is inserted.

  function showEnrollment(answer) {
    $('enroll-error').hidden = true
    $('enroll-kiosk').textContent = answer.kioskId + ' (booth ' + answer.booth + ')'
    $('enroll-code').textContent = answer.code
    $('enroll-expires').textContent = new Date(answer.expiresAt).toLocaleString([], { hour12: false })
    $('enroll-command').textContent = answer.enrollCommand
    const qr = answer.qr && typeof answer.qr.dataUrl === 'string' && answer.qr.dataUrl.startsWith('data:image/png;base64,') ? answer.qr.dataUrl : ''
    $('enroll-qr').hidden = !qr
    if (qr) $('enroll-qr').src = qr
    $('enroll-result').hidden = false
  }

  function hideEnrollment() {
    $('enroll-result').hidden = true
    $('enroll-qr').removeAttribute('src')
    $('enroll-code').textContent = ''
    $('enroll-command').textContent = ''
  }

  async function enroll(path, body) {
    hideEnrollment()
    $('enroll-error').hidden = true
    try {
      showEnrollment(await api('POST', path, body))
    } catch (err) {
      $('enroll-error').textContent = 'No registration code: ' + err.message + (err.type ? ' (' + err.type + ')' : '')
      $('enroll-error').hidden = false
    }
  }

  $('enroll-new-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const body = { id: $('enroll-id').value.trim(), booth: $('enroll-booth').value.trim() }
    const profile = $('enroll-profile').value.trim()
    if (profile) body.profile = profile
    if ($('enroll-sale').checked) body.saleAllowed = true
    if ($('enroll-topup').checked) body.topupAllowed = true
    enroll('kiosks', body)
  })

  $('enroll-code-form').addEventListener('submit', (event) => {
    event.preventDefault()
    enroll('kiosks/' + encodeURIComponent($('enroll-existing-id').value.trim()) + '/registration-code', {})
  })

  $('refresh-reads').addEventListener('click', loadReads)

  // --- start -------------------------------------------------------------------

  try {
    credentials = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null')
  } catch {
    credentials = null
  }
  if (credentials && credentials.name && credentials.token) start()
  else showLogin('')
})()
