import { createRouter, createWebHistory } from 'vue-router'
import { useAuth } from './stores/auth'
import LoginView from './views/LoginView.vue'
import FleetView from './views/FleetView.vue'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', redirect: '/fleet' },
    { path: '/login', component: LoginView, meta: { public: true, title: 'Log in' } },
    { path: '/register', component: () => import('./views/RegisterView.vue'), meta: { public: true, title: 'Register' } },
    { path: '/fleet', component: FleetView, meta: { title: 'Fleet' } },
    { path: '/cuda', component: () => import('./views/CudaView.vue'), meta: { title: 'CUDA' } },
    { path: '/llm', component: () => import('./views/LlmView.vue'), meta: { title: 'LLM' } },
    // Admin pages: their own chunks, loaded when an admin opens them. A viewer gets the layout's
    // "admins only" state and none of the pages (whose API calls would all be 403).
    {
      path: '/admin',
      component: () => import('./views/AdminView.vue'),
      redirect: '/admin/users',
      children: [
        { path: 'users', component: () => import('./views/admin/UsersPage.vue'), meta: { title: 'Users' } },
        { path: 'invites', component: () => import('./views/admin/InvitesPage.vue'), meta: { title: 'Invites' } },
        { path: 'nodes', component: () => import('./views/admin/NodesPage.vue'), meta: { title: 'Nodes' } },
        { path: 'sql', component: () => import('./views/admin/SqlPage.vue'), meta: { title: 'SQL' } },
        { path: 'audit', component: () => import('./views/admin/AuditPage.vue'), meta: { title: 'Audit log' } },
      ],
    },
    { path: '/host', component: () => import('./views/HostView.vue'), meta: { title: 'Host' } },
    { path: '/nodes/:name', component: () => import('./views/NodeView.vue'), meta: { title: 'Node' } },
    { path: '/:rest(.*)*', component: () => import('./views/NotFound.vue'), meta: { title: 'Not found' } },
  ],
})

router.beforeEach((to) => {
  const auth = useAuth()
  if (!to.meta.public && !auth.loggedIn) return { path: '/login', query: { next: to.fullPath } }
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title as string} · scope` : 'scope'
})
