// How the lab starts each contender in front of its servers (issue 8). Every contender gets
// `doors` independent instances, one port each. HAProxy and NGINX run one worker each, as the
// issue asks; Switchyard runs one interceptor process a door.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** HAProxy's config for one door. */
export function haproxyConfig(c, port, servers) {
  const balance = c === 'rr-w' || c === 'redir' ? 'roundrobin' : 'leastconn';
  const lines = servers.map((srv, i) => {
    const host = new URL(srv.url).host;
    const w = c === 'lc' ? 1 : Math.max(1, Math.round(srv.strength * 10));
    const extra = c === 'lc-q' ? ` maxconn ${srv.slots}` : c === 'redir' ? ` redir ${srv.url}` : '';
    return `  server s${i} ${host} weight ${w}${extra}`;
  });
  return `global
  maxconn 8000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout queue 60s
  option http-keep-alive
frontend door
  bind 127.0.0.1:${port}
  default_backend lab
backend lab
  balance ${balance}
${lines.join('\n')}
`;
}

/** NGINX's config for one door (least_conn with weights). */
export function nginxConfig(dir, port, servers) {
  return `worker_processes 1;
daemon off;
pid ${join(dir, 'nginx.pid')};
error_log stderr error;
events { worker_connections 20000; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream lab {
    least_conn;
${servers.map((s) => `    server ${new URL(s.url).host} weight=${Math.max(1, Math.round(s.strength * 10))};`).join('\n')}
    keepalive 512;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://lab;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 60s;
    }
  }
}
`;
}

/** Writes one door's config for a proxy contender; returns the command that runs it. */
export function proxyDoorCommand(c, dir, port, servers) {
  if (c === 'nginx-lc') {
    const file = join(dir, `nginx-${port}.conf`);
    writeFileSync(file, nginxConfig(dir, port, servers));
    return ['nginx', ['-p', dir, '-c', file]];
  }
  const file = join(dir, `haproxy-${port}.cfg`);
  writeFileSync(file, haproxyConfig(c, port, servers));
  return ['haproxy', ['-db', '-f', file]];
}
